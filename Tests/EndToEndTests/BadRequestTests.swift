import Foundation
import XCTest
import SBTestSupport

/// Bad input of every kind gets its status and a JSON `error`, changes nothing, and never
/// takes the process down.
final class BadRequestTests: XCTestCase {
    struct Case {
        let name: String
        let raw: [UInt8]
        let status: Int
    }

    static func req(_ method: String, _ path: String, body: String? = nil, contentType: String? = "application/json",
                    extra: String = "") -> [UInt8] {
        var head = "\(method) \(path) HTTP/1.1\r\nHost: x\r\n\(extra)"
        if let contentType, body != nil { head += "Content-Type: \(contentType)\r\n" }
        if let body { head += "Content-Length: \(body.utf8.count)\r\n" }
        return Array((head + "\r\n" + (body ?? "")).utf8)
    }

    static func rawBody(_ method: String, _ path: String, _ body: [UInt8]) -> [UInt8] {
        Array("\(method) \(path) HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: \(body.count)\r\n\r\n".utf8) + body
    }

    static let ts = "2026-11-24T12:00:00Z"
    static func event(_ fields: String) -> String { "{\(fields)}" }

    static var cases: [Case] {
        let ok = "\"sessionId\":\"bad-s\",\"type\":\"t\",\"timestamp\":\"\(ts)\""
        var list: [Case] = [
            Case(name: "invalid JSON", raw: req("POST", "/api/events", body: "{not json"), status: 400),
            Case(name: "empty body", raw: req("POST", "/api/events", body: ""), status: 400),
            Case(name: "JSON string", raw: req("POST", "/api/events", body: "\"hello\""), status: 400),
            Case(name: "JSON number", raw: req("POST", "/api/events", body: "42"), status: 400),
            Case(name: "JSON null", raw: req("POST", "/api/events", body: "null"), status: 400),
            Case(name: "empty array", raw: req("POST", "/api/events", body: "[]"), status: 400),
            Case(name: "array of numbers", raw: req("POST", "/api/events", body: "[1,2]"), status: 400),
            Case(name: "missing sessionId", raw: req("POST", "/api/events", body: "{\"type\":\"t\",\"timestamp\":\"\(ts)\"}"), status: 400),
            Case(name: "missing type", raw: req("POST", "/api/events", body: "{\"sessionId\":\"bad-s\",\"timestamp\":\"\(ts)\"}"), status: 400),
            Case(name: "missing timestamp", raw: req("POST", "/api/events", body: "{\"sessionId\":\"bad-s\",\"type\":\"t\"}"), status: 400),
            Case(name: "sessionId number", raw: req("POST", "/api/events", body: "{\"sessionId\":5,\"type\":\"t\",\"timestamp\":\"\(ts)\"}"), status: 400),
            Case(name: "type number", raw: req("POST", "/api/events", body: "{\"sessionId\":\"bad-s\",\"type\":1,\"timestamp\":\"\(ts)\"}"), status: 400),
            Case(name: "timestamp number", raw: req("POST", "/api/events", body: "{\"sessionId\":\"bad-s\",\"type\":\"t\",\"timestamp\":17}"), status: 400),
            Case(name: "timestamp not ISO", raw: req("POST", "/api/events", body: "{\"sessionId\":\"bad-s\",\"type\":\"t\",\"timestamp\":\"yesterday\"}"), status: 400),
            Case(name: "timestamp bad month", raw: req("POST", "/api/events", body: "{\"sessionId\":\"bad-s\",\"type\":\"t\",\"timestamp\":\"2026-13-01T00:00:00Z\"}"), status: 400),
            Case(name: "sessionId too long", raw: req("POST", "/api/events", body: "{\"sessionId\":\"\(String(repeating: "a", count: 201))\",\"type\":\"t\",\"timestamp\":\"\(ts)\"}"), status: 400),
            Case(name: "sessionId empty", raw: req("POST", "/api/events", body: "{\"sessionId\":\"\",\"type\":\"t\",\"timestamp\":\"\(ts)\"}"), status: 400),
            Case(name: "sessionId bad chars", raw: req("POST", "/api/events", body: "{\"sessionId\":\"a b/c\",\"type\":\"t\",\"timestamp\":\"\(ts)\"}"), status: 400),
            Case(name: "sessionId unicode", raw: req("POST", "/api/events", body: "{\"sessionId\":\"sé\",\"type\":\"t\",\"timestamp\":\"\(ts)\"}"), status: 400),
            Case(name: "client-sent seq", raw: req("POST", "/api/events", body: "{\(ok),\"seq\":3}"), status: 400),
            Case(name: "bad element in batch", raw: req("POST", "/api/events", body: "[{\(ok)},{\"sessionId\":\"bad-s\"}]"), status: 400),
            Case(name: "batch over 1000", raw: req("POST", "/api/events", body: "[" + Array(repeating: "{\(ok)}", count: 1001).joined(separator: ",") + "]"), status: 400),
            Case(name: "wrong content type", raw: req("POST", "/api/events", body: "{\(ok)}", contentType: "text/plain"), status: 415),
            Case(name: "form content type", raw: req("POST", "/api/sessions", body: "cwd=x", contentType: "application/x-www-form-urlencoded"), status: 415),
            Case(name: "invalid UTF-8 in JSON", raw: rawBody("POST", "/api/events",
                    Array("{\"sessionId\":\"bad-s\",\"type\":\"".utf8) + [0xFF, 0xFE] + Array("\",\"timestamp\":\"\(ts)\"}".utf8)), status: 400),
            Case(name: "session without cwd", raw: req("POST", "/api/sessions", body: "{\"hostname\":\"h\"}"), status: 400),
            Case(name: "session cwd number", raw: req("POST", "/api/sessions", body: "{\"cwd\":1}"), status: 400),
            Case(name: "session body array", raw: req("POST", "/api/sessions", body: "[]"), status: 400),
            Case(name: "unknown command type", raw: req("POST", "/api/sessions/bad-s/commands", body: "{\"type\":\"explode\"}"), status: 400),
            Case(name: "command type missing", raw: req("POST", "/api/sessions/bad-s/commands", body: "{\"payload\":1}"), status: 400),
            Case(name: "input missing", raw: req("POST", "/api/sessions/bad-s/input", body: "{\"prompt\":\"p\"}"), status: 400),
            Case(name: "update bad status", raw: req("PUT", "/api/sessions/nope", body: "{\"status\":\"exploded\"}"), status: 400),
            Case(name: "events query bad limit", raw: req("GET", "/api/events/bad-s?limit=abc"), status: 400),
            Case(name: "events query negative after", raw: req("GET", "/api/events/bad-s?after=-1"), status: 400),
            Case(name: "events query bad since", raw: req("GET", "/api/events/bad-s?since=notadate"), status: 400),
            Case(name: "recent limit over 1000", raw: req("GET", "/api/events/bad-s/recent?limit=1001"), status: 400),
            Case(name: "bad sessionId in path", raw: req("GET", "/api/events/bad%20id"), status: 400),
            Case(name: "unknown route", raw: req("GET", "/api/nothing"), status: 404),
            Case(name: "unknown session", raw: req("GET", "/api/sessions/does-not-exist"), status: 404),
            Case(name: "unknown chain", raw: req("GET", "/api/chains/does-not-exist"), status: 404),
            Case(name: "ack unknown command", raw: req("POST", "/api/commands/nope/ack", body: "{}"), status: 404),
            Case(name: "delete unknown session", raw: req("DELETE", "/api/sessions/does-not-exist"), status: 404),
            Case(name: "wrong method on events", raw: req("DELETE", "/api/events"), status: 405),
            Case(name: "wrong method on health", raw: req("POST", "/health", body: "{}"), status: 405),
            Case(name: "body over MAX_BODY_BYTES", raw: Array("POST /api/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 5000000\r\n\r\n".utf8), status: 413),
            Case(name: "chunked body over limit", raw: Array("POST /api/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n200000\r\n".utf8) + [UInt8](repeating: 0x20, count: 0x200000) + Array("\r\n0\r\n\r\n".utf8), status: 413),
            // RFC 9112 §7.1.1: a chunk extension is tokens (or quoted strings) only; a control
            // byte there is the kind of leniency request smuggling between proxies exploits.
            Case(name: "control byte in a chunk extension", raw: Array("POST /api/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n".utf8)
                    + Array("4d;ext=a".utf8) + [0x01] + Array("b\r\n{\"sessionId\":\"bad-s\",\"type\":\"t\",\"timestamp\":\"2026-11-24T12:00:00Z\",\"n\":12345}\r\n0\r\n\r\n".utf8), status: 400),
            Case(name: "bare LF in the head", raw: Array("POST /api/events HTTP/1.1\nHost: x\r\nContent-Length: 2\r\n\r\n{}".utf8), status: 400),
            Case(name: "obs-fold", raw: Array("GET /health HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n 2\r\n\r\n".utf8), status: 400),
            Case(name: "space before colon", raw: Array("GET /health HTTP/1.1\r\nHost : x\r\n\r\n".utf8), status: 400),
            Case(name: "two Host fields", raw: Array("GET /health HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n".utf8), status: 400),
            Case(name: "unknown transfer coding", raw: Array("POST /api/events HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n".utf8), status: 501),
            Case(name: "differing Content-Length", raw: Array("POST /api/events HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}".utf8), status: 400),
            Case(name: "bad chunk size", raw: Array("POST /api/events HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n".utf8), status: 400),
            Case(name: "oversized headers", raw: Array("GET /health HTTP/1.1\r\nHost: x\r\nX-Big: \(String(repeating: "a", count: 20000))\r\n\r\n".utf8), status: 431),
            Case(name: "garbage request line", raw: Array("HELLO\r\n\r\n".utf8), status: 400),
            Case(name: "HTTP/2 preface", raw: Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8), status: 505),
            Case(name: "missing Host on 1.1", raw: Array("GET /health HTTP/1.1\r\n\r\n".utf8), status: 400),
            Case(name: "both CL and TE", raw: Array("POST /api/events HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n".utf8), status: 400),
            Case(name: "bad content-length", raw: Array("POST /api/events HTTP/1.1\r\nHost: x\r\nContent-Length: 12abc\r\n\r\n".utf8), status: 400),
            Case(name: "websocket bad key", raw: Array("GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: short\r\nSec-WebSocket-Version: 13\r\n\r\n".utf8), status: 400),
            Case(name: "websocket version 8", raw: Array("GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n\r\n".utf8), status: 426),
            Case(name: "plain GET on /ws", raw: req("GET", "/ws"), status: 426),
        ]
        list.append(Case(name: "deeply nested JSON", raw: req("POST", "/api/events", body: String(repeating: "[", count: 100_000)), status: 400))
        return list
    }

    func testBadRequestTable() throws {
        try XCTSkipUnless(ServerProcess.isAvailable, "switchboard binary not built")
        let server = try ServerProcess()
        defer { XCTAssertEqual(server.stop(), 0) }
        let cases = Self.cases
        XCTAssertGreaterThanOrEqual(cases.count, 40)
        for testCase in cases {
            let client = try TestHTTPClient(port: server.port)
            try client.sendRaw(testCase.raw)
            let response: TestResponse
            do {
                response = try client.readResponse(headRequest: false)
            } catch {
                XCTFail("\(testCase.name): no response (\(error))")
                continue
            }
            XCTAssertEqual(response.status, testCase.status, "\(testCase.name): \(response.text)")
            XCTAssertNotNil(response.object["error"] as? String, "\(testCase.name): body has no error message: \(response.text)")
            XCTAssertEqual(response.header("content-type"), "application/json; charset=utf-8", testCase.name)
            client.close()
        }
        // Still alive and serving, and nothing was stored for the session the bad events named.
        let client = try TestHTTPClient(port: server.port)
        XCTAssertEqual(try client.request("GET", "/health").status, 200)
        let events = try client.request("GET", "/api/events/bad-s")
        XCTAssertEqual(events.object["count"] as? Int, 0, events.text)
        let sessions = try client.request("GET", "/api/sessions")
        XCTAssertEqual(sessions.object["count"] as? Int, 0, sessions.text)
    }

    /// A request cut off mid-body gets no 2xx and stores nothing; the connection is closed by
    /// the header/body timeout rather than hanging forever.
    func testTruncatedBodyStoresNothing() throws {
        try XCTSkipUnless(ServerProcess.isAvailable, "switchboard binary not built")
        let server = try ServerProcess(environment: ["HEADER_TIMEOUT": "1"])
        defer { server.stop() }
        let client = try TestHTTPClient(port: server.port)
        try client.sendRaw(Array("POST /api/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"sessionId\":\"trunc\"".utf8))
        let response = try client.readResponse()
        XCTAssertEqual(response.status, 408)
        let check = try TestHTTPClient(port: server.port)
        XCTAssertEqual(try check.request("GET", "/api/events/trunc").object["count"] as? Int, 0)
    }
}
