import Foundation
import SBCore
import XCTest
@testable import SBHub
import SBHTTP
import SBStore

/// `POST /api/events` bodies through the scanner: the stored bytes, and the same messages as
/// when Foundation parsed them.
final class EventsBodyTests: XCTestCase {
    func request(_ body: [UInt8], headers: [(String, String)] = [("content-type", "application/json")]) -> HTTPRequest {
        var head = HTTPRequestHead(method: .post, target: "/api/events")
        head.headers = HTTPHeaders(headers)
        return HTTPRequest(head: head, body: body)
    }

    func message(_ body: [UInt8]) -> String? {
        if case .failure(let error) = EventsAPI.parseEvents(request(body)) { return error.message }
        return nil
    }

    static let ok = #""sessionId":"s","type":"t","timestamp":"2026-11-24T12:00:00Z""#

    func testMessagesAsBefore() {
        let notJSON = "request body is not valid JSON"
        let notUTF8 = "request body must be JSON encoded as UTF-8 (RFC 8259 §8.1); UTF-16, UTF-32 and other encodings are refused"
        let rows: [([UInt8], String?)] = [
            (Array("{\(Self.ok)}".utf8), nil),
            (Array("{not json".utf8), notJSON),
            (Array("".utf8), "request body is empty; expected JSON"),
            ([0xEF, 0xBB, 0xBF], "request body is empty; expected JSON"),
            (Array("  ".utf8), notJSON),
            (Array("{\(Self.ok),}".utf8), notJSON),                        // trailing comma (Foundation took it)
            (Array("[{\(Self.ok)},]".utf8), notJSON),
            (Array("{\"sessionId\":\"s\",\"type\":\"".utf8) + [0xFF, 0xFE] + Array("\"}".utf8), notUTF8),
            (Array("{oops".utf8) + [0xFF], notUTF8),                           // encoding is reported before syntax
            (Array("[1]".utf8) + [0x00], notUTF8),
            ([0x5B, 0x00, 0x5D, 0x00], notUTF8),                               // UTF-16LE `[]`
            (Array("\"hello\"".utf8), "event must be a JSON object or an array of objects"),
            (Array("[]".utf8), "event array is empty"),
            (Array("[1,2]".utf8), "events[0] must be a JSON object"),
            (Array("[{\(Self.ok)},{\"sessionId\":\"s\"}]".utf8), "events[1].type is required and must be a string"),
            (Array("{\(Self.ok),\"type\":\"u\"}".utf8), "type appears more than once; each field may be given once"),
            (Array("{\"session\\u0049d\":\"a\",\(Self.ok)}".utf8), "sessionId appears more than once; each field may be given once"),
            (Array("{\(Self.ok),\"seq\":null}".utf8), "seq is assigned by the server and must not be sent"),
            (Array("{\(Self.ok),\"eventId\":null}".utf8), "eventId must be a string of 1-200 characters"),
            (Array("{\"sessionId\":5,\"type\":\"t\"}".utf8), "sessionId is required and must be a string"),
            (Array("{\"sessionId\":\"a b\",\"type\":\"t\"}".utf8), "sessionId must be 1-200 characters of [A-Za-z0-9._:-]"),
            (Array("{\"sessionId\":\"s\",\"type\":\"\",\"timestamp\":1}".utf8), "type must be 1-200 characters"),
            (Array("{\"sessionId\":\"s\",\"type\":\"t\",\"timestamp\":1}".utf8), "timestamp is required and must be an ISO-8601 string"),
            (Array("{\"sessionId\":\"s\",\"type\":\"t\",\"timestamp\":\"soon\"}".utf8), "timestamp 'soon' is not an ISO-8601 date-time"),
            // Escaped: decoded before they are checked (the unescaped ones are read in place).
            (Array("{\"sessionId\":\"s\",\"type\":\"t\",\"timestamp\":\"s\\u006Fon\"}".utf8), "timestamp 'soon' is not an ISO-8601 date-time"),
            (Array("{\"sessionId\":\"s\",\"type\":\"\(String(repeating: "\\u0061", count: 201))\",\"timestamp\":1}".utf8), "type must be 1-200 characters"),
            (Array("[\(Array(repeating: "{\(Self.ok)}", count: 1001).joined(separator: ","))]".utf8), "at most 1000 events per request, got 1001"),
            (Array(String(repeating: "[", count: 100_000).utf8), notJSON),
        ]
        for (body, expected) in rows { XCTAssertEqual(message(body), expected, String(decoding: body.prefix(80), as: UTF8.self)) }
        if case .failure(let error) = EventsAPI.parseEvents(request(Array("{}".utf8), headers: [("content-type", "text/plain")])) {
            XCTAssertEqual(error.status, 415)
        } else {
            XCTFail("text/plain is refused")
        }
    }

    func testMediaTypes() {
        let accepted = ["application/json", "Application/JSON", " application/json ; charset=utf-8", "\tapplication/json\t",
                        "application/vnd.api+json", "application/problem+JSON;q=1", "text/x+json"]
        let refused = ["text/plain", "application/jsonx", "application/json-patch", "json", "", "application/ json",
                       "xapplication/json", "application/x-www-form-urlencoded", "application/json\u{A0}", "+jso"]
        for value in accepted { XCTAssertTrue(JSONBody.isJSONMediaType(value), value) }
        for value in refused { XCTAssertFalse(JSONBody.isJSONMediaType(value), value) }
    }

    /// An escaped timestamp or type is decoded and checked like a plain one.
    func testEscapedTimestampAndTypeAreAccepted() throws {
        let body = Array("{\"sessionId\":\"s\",\"type\":\"\\u0074\",\"timestamp\":\"2026-11-24T12:00:00\\u002E250Z\"}".utf8)
        let parsed = try EventsAPI.parseEvents(request(body)).get()
        XCTAssertEqual(parsed.events[0].timestampMillis, ISO8601.parse("2026-11-24T12:00:00.250Z"))
        XCTAssertEqual(ISO8601.parse("2026-11-24T12:00:00.250Z"), 1_795_521_600_250)
    }

    func testByteOrderMarkIsNotStored() throws {
        let body: [UInt8] = [0xEF, 0xBB, 0xBF] + Array(" {\(Self.ok),\"eventId\":\"e\\u0031\"} ".utf8)
        let parsed = try EventsAPI.parseEvents(request(body)).get()
        let (events, isBatch) = (parsed.events, parsed.isBatch)
        XCTAssertFalse(isBatch)
        XCTAssertEqual(events[0].eventId, "e1")
        XCTAssertEqual(String(decoding: events[0].body, as: UTF8.self), "{\(Self.ok),\"eventId\":\"e\\u0031\"}")
    }

    func testParseEventsSplicesEventIdAndValidates() throws {
        let body = Array("[{\"sessionId\":\"s\",\"type\":\"t\",\"timestamp\":\"2026-11-24T12:00:00Z\",\"z\":1},{\"sessionId\":\"s\",\"type\":\"t\",\"timestamp\":\"2026-11-24T12:00:00.5+01:00\",\"eventId\":\"mine\"}]".utf8)
        let parsed = try EventsAPI.parseEvents(request(body)).get()
        let (events, isBatch) = (parsed.events, parsed.isBatch)
        XCTAssertTrue(isBatch)
        XCTAssertEqual(events.count, 2)
        let first = String(decoding: events[0].body, as: UTF8.self)
        XCTAssertTrue(first.hasPrefix("{\"eventId\":\"\(events[0].eventId)\",\"sessionId\":\"s\""), first)
        XCTAssertTrue(first.hasSuffix(",\"z\":1}"), first)
        XCTAssertEqual(events[1].eventId, "mine")
        XCTAssertEqual(events[1].timestampMillis, events[0].timestampMillis - 3_600_000 + 500)
    }
}

final class RouteTests: XCTestCase {
    func testMatching() {
        guard case .route(.getEvents(let id)) = Route.match(method: .get, path: "/api/events/abc") else { return XCTFail() }
        XCTAssertEqual(id, "abc")
        guard case .route(.recentEvents) = Route.match(method: .get, path: "/api/events/abc/recent") else { return XCTFail() }
        guard case .route(.ackCommand(let c)) = Route.match(method: .post, path: "/api/commands/c1/ack") else { return XCTFail() }
        XCTAssertEqual(c, "c1")
        guard case .route(.health) = Route.match(method: .head, path: "/health") else { return XCTFail("HEAD served as GET") }
        guard case .methodNotAllowed(let allow) = Route.match(method: .delete, path: "/api/events") else { return XCTFail() }
        XCTAssertTrue(allow.contains("POST"))
        guard case .notFound = Route.match(method: .get, path: "/api/sessions/a/b/c") else { return XCTFail() }
        // A combining mark right after "/" (found by schemathesis): still a path separator.
        guard case .route(.drainCommands(let odd)) = Route.match(method: .get, path: "/api/sessions/\u{0957}x/commands") else {
            return XCTFail("a combining mark after / hid the separator")
        }
        XCTAssertEqual(odd, "\u{0957}x")
        guard case .route(.eventStream(let streamed)) = Route.match(method: .get, path: "/api/events/s1/stream") else { return XCTFail() }
        XCTAssertEqual(streamed, "s1")
        guard case .route(.asset("/")) = Route.match(method: .get, path: "/") else { return XCTFail("the console at /") }
        guard case .route(.asset("/console")) = Route.match(method: .head, path: "/console") else { return XCTFail() }
        guard case .route(.stats) = Route.match(method: .get, path: "/api/stats") else { return XCTFail() }
        guard case .methodNotAllowed = Route.match(method: .post, path: "/openapi.json") else { return XCTFail() }
        guard case .notFound = Route.match(method: .get, path: "/nope") else { return XCTFail() }
    }

    /// The whole-path fast route gives what the general matcher gives, for its own paths and for
    /// near misses, which it must leave to the general matcher.
    func testFixedRoutesAgreeWithTheGeneralMatcher() {
        let methods: [HTTPMethod] = [.get, .head, .post, .put, .delete, .options, .patch, .other("BREW")]
        let paths = ["/health", "/ws", "/ready", "/metrics", "/api/stats", "/api/sessions", "/api/events", "/echo", "/",
                     "/health/", "//health", "/Health", "/api/events/", "/api//events", "/api/sessions/x", "/api/tokens", "/healthz"]
        var fixedHits = 0
        for method in methods {
            for path in paths {
                let general = "\(Route.general(method: method, path: path))"
                XCTAssertEqual("\(Route.match(method: method, path: path))", general, "\(method) \(path)")
                if let fixed = Route.fixed(method: method, path: path) {
                    fixedHits += 1
                    XCTAssertEqual("\(Route.Match.route(fixed))", general, "\(method) \(path)")
                }
            }
        }
        XCTAssertEqual(fixedHits, 14, "GET and HEAD on 6 paths, POST on 2")
    }

    func testSessionIdRule() {
        XCTAssertTrue(Field.isValidSessionId("a.b_c:d-1"))
        XCTAssertTrue(Field.isValidSessionId(String(repeating: "x", count: 200)))
        XCTAssertFalse(Field.isValidSessionId(String(repeating: "x", count: 201)))
        XCTAssertFalse(Field.isValidSessionId(""))
        XCTAssertFalse(Field.isValidSessionId("a/b"))
        XCTAssertFalse(Field.isValidSessionId("é"))
    }

    func testEventMessageShape() throws {
        let bytes = HubMessage.event(sessionId: "s\"1", seq: 7, storedJSON: Array("{\"seq\":7,\"a\":1}".utf8)).json
        let object = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any])
        XCTAssertEqual(object["type"] as? String, "event")
        XCTAssertEqual(object["sessionId"] as? String, "s\"1")
        XCTAssertEqual(object["seq"] as? Int, 7)
        XCTAssertEqual((object["payload"] as? [String: Any])?["a"] as? Int, 1)
    }

    func testTokenBucket() {
        let limit = TokenRate(rate: 2, burst: 2)
        var bucket = TokenBucket(limit)
        XCTAssertTrue(bucket.take(now: 1_000_000_000, limit))
        XCTAssertTrue(bucket.take(now: 1_000_000_000, limit))
        XCTAssertFalse(bucket.take(now: 1_000_000_000, limit))
        XCTAssertEqual(bucket.secondsUntilNext(limit), 1)
        XCTAssertTrue(bucket.take(now: 1_600_000_000, limit))
        XCTAssertFalse(bucket.take(now: 1_700_000_000, limit), "0.2 tokens refilled in 100 ms is not a whole one")

        var unset = TokenBucket()  // the limit given at first use: full then
        XCTAssertTrue(unset.take(now: 5_000_000_000, limit))
        XCTAssertTrue(unset.take(now: 5_000_000_000, limit))
        XCTAssertFalse(unset.take(now: 5_000_000_000, limit), "a burst of 2, not more")
    }
}
