import Foundation
import SBCore
import XCTest
@testable import SBHub
import SBHTTP
import SBStore

final class JSONSplitterTests: XCTestCase {
    func elements(_ text: String) -> [String]? {
        let bytes = Array(text.utf8)
        return JSONSplitter.arrayElements(bytes)?.map { String(decoding: bytes[$0], as: UTF8.self) }
    }

    func testSplitsTopLevelElementsKeepingBytes() {
        XCTAssertEqual(elements("[{\"a\":1},{\"b\":[1,2,{\"c\":\"]}\"}]}]"), ["{\"a\":1}", "{\"b\":[1,2,{\"c\":\"]}\"}]}"])
        XCTAssertEqual(elements(" [ {\"x\":\"a\\\"b,c\"} , 3 , \"s\" , null ] "), ["{\"x\":\"a\\\"b,c\"}", "3", "\"s\"", "null"])
        XCTAssertEqual(elements("[]"), [])
        XCTAssertNil(elements("{\"a\":1}"))
    }

    func testTrimmedValue() {
        let bytes = Array("  {\"a\":1}\n".utf8)
        XCTAssertEqual(String(decoding: bytes[JSONSplitter.trimmedValue(bytes)], as: UTF8.self), "{\"a\":1}")
    }

    func testParseEventsSplicesEventIdAndValidates() throws {
        let body = Array("[{\"sessionId\":\"s\",\"type\":\"t\",\"timestamp\":\"2026-11-24T12:00:00Z\",\"z\":1},{\"sessionId\":\"s\",\"type\":\"t\",\"timestamp\":\"2026-11-24T12:00:00.5+01:00\",\"eventId\":\"mine\"}]".utf8)
        var head = HTTPRequestHead(method: .post, target: "/api/events")
        head.headers = HTTPHeaders([("content-type", "application/json")])
        let request = HTTPRequest(head: head, body: body)
        let (events, isBatch) = try EventsAPI.parseEvents(request).get()
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
        guard case .notFound = Route.match(method: .get, path: "/nope") else { return XCTFail() }
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
        let bytes = EventMessage.event(sessionId: "s\"1", seq: 7, storedJSON: Array("{\"seq\":7,\"a\":1}".utf8))
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
    }
}
