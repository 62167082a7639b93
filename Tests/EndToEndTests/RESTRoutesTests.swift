import Foundation
import XCTest
import SBTestSupport

/// Every REST route's happy path against a real process on the memory store.
final class RESTRoutesTests: XCTestCase {
    var server: ServerProcess!
    var client: TestHTTPClient!

    override func setUpWithError() throws {
        try XCTSkipUnless(ServerProcess.isAvailable, "switchboard binary not built")
        server = try ServerProcess()
        client = try TestHTTPClient(port: server.port)
    }

    override func tearDown() {
        client?.close()
        if let server { XCTAssertEqual(server.stop(), 0, server.log()) }
    }

    func event(_ session: String, _ n: Int, extra: String = "") -> [String: Any] {
        ["sessionId": session, "type": "step", "timestamp": "2026-11-24T12:00:0\(n % 10)Z", "data": ["n": n]]
    }

    func testHealthReadyMetrics() throws {
        let health = try client.request("GET", "/health")
        XCTAssertEqual(health.status, 200)
        XCTAssertEqual(health.object["status"] as? String, "ok")
        XCTAssertEqual(health.object["storage"] as? String, "memory")
        XCTAssertNotNil(health.object["instanceId"] as? String)
        XCTAssertNotNil(health.object["uptimeSeconds"] as? Int)
        XCTAssertEqual((health.object["redis"] as? [String: Any])?["connected"] as? Bool, false)
        XCTAssertNotNil(health.object["connections"] as? Int)
        XCTAssertEqual(try client.request("GET", "/ready").status, 200)
        let metrics = try client.request("GET", "/metrics")
        XCTAssertEqual(metrics.status, 200)
        XCTAssertTrue(metrics.text.contains("switchboard_http_requests_total"), metrics.text)
        let head = try client.request("HEAD", "/health")
        XCTAssertEqual(head.status, 200)
        XCTAssertTrue(head.body.isEmpty)
    }

    func testEventsPostListAndRecent() throws {
        let first = try client.request("POST", "/api/events", json: event("s1", 1))
        XCTAssertEqual(first.status, 201, first.text)
        XCTAssertEqual(first.object["success"] as? Bool, true)
        XCTAssertEqual(first.object["seq"] as? Int, 1)
        XCTAssertEqual(first.object["sessionId"] as? String, "s1")
        XCTAssertNotNil(first.object["eventId"] as? String)

        let batch = try client.request("POST", "/api/events", json: [event("s1", 2), event("s1", 3), event("s2", 1)])
        XCTAssertEqual(batch.status, 201, batch.text)
        let results = batch.object["results"] as? [[String: Any]] ?? []
        XCTAssertEqual(results.map { $0["seq"] as? Int }, [2, 3, 1])

        let list = try client.request("GET", "/api/events/s1")
        XCTAssertEqual(list.status, 200)
        XCTAssertEqual(list.object["count"] as? Int, 3)
        let events = list.object["events"] as? [[String: Any]] ?? []
        XCTAssertEqual(events.map { $0["seq"] as? Int }, [1, 2, 3])
        XCTAssertEqual((events.first?["data"] as? [String: Any])?["n"] as? Int, 1)

        let after = try client.request("GET", "/api/events/s1?after=1&limit=1")
        XCTAssertEqual((after.object["events"] as? [[String: Any]])?.map { $0["seq"] as? Int }, [2])
        let since = try client.request("GET", "/api/events/s1?since=2026-11-24T12:00:02Z")
        XCTAssertEqual(since.object["count"] as? Int, 2)

        // Key order of a posted event survives storage (raw bytes kept).
        let raw = Array("{\"type\":\"ordered\",\"zeta\":1,\"alpha\":2,\"sessionId\":\"s3\",\"timestamp\":\"2026-11-24T12:00:00Z\"}".utf8)
        XCTAssertEqual(try client.request("POST", "/api/events", headers: [("Content-Type", "application/json")], body: raw).status, 201)
        let stored = try client.request("GET", "/api/events/s3").text
        XCTAssertTrue(stored.contains("\"type\":\"ordered\",\"zeta\":1,\"alpha\":2"), stored)

        let now = ISO8601DateFormatter().string(from: Date())
        XCTAssertEqual(try client.request("POST", "/api/events", json: ["sessionId": "s4", "type": "t", "timestamp": now]).status, 201)
        let recent = try client.request("GET", "/api/events/s4/recent?limit=10&seconds=60")
        XCTAssertEqual(recent.status, 200)
        XCTAssertEqual(recent.object["count"] as? Int, 1, recent.text)
        XCTAssertNotNil(recent.object["cutoffTime"] as? String)
    }

    func testSessionsLifecycle() throws {
        let created = try client.request("POST", "/api/sessions", json: ["cwd": "/work", "hostname": "h1", "platform": "linux", "userId": "u1"])
        XCTAssertEqual(created.status, 201, created.text)
        let id = try XCTUnwrap(created.object["id"] as? String)
        XCTAssertEqual(created.object["status"] as? String, "pending")
        XCTAssertEqual(created.object["user"] as? String, "u1")
        XCTAssertEqual((created.object["chains"] as? [Any])?.count, 0)
        XCTAssertNotNil(created.object["startedAt"] as? String)

        let listed = try client.request("GET", "/api/sessions")
        XCTAssertEqual(listed.object["count"] as? Int, 1)
        let summary = (listed.object["sessions"] as? [[String: Any]])?.first
        XCTAssertEqual(summary?["id"] as? String, id)
        XCTAssertEqual(summary?["chainsCount"] as? Int, 0)

        let chain = try client.request("POST", "/api/sessions/\(id)/chains", json: ["name": "build", "steps": [1, 2]])
        XCTAssertEqual(chain.status, 201, chain.text)
        let chainId = try XCTUnwrap(chain.object["id"] as? String)
        XCTAssertEqual(try client.request("GET", "/api/chains/\(chainId)").object["name"] as? String, "build")
        XCTAssertEqual(try client.request("GET", "/api/sessions/\(id)/chains").object["count"] as? Int, 1)
        XCTAssertEqual((try client.request("GET", "/api/sessions/\(id)").object["chains"] as? [Any])?.count, 1)

        let updated = try client.request("PUT", "/api/sessions/\(id)", json: ["status": "completed", "summary": "done", "endReason": "ok"])
        XCTAssertEqual(updated.status, 200, updated.text)
        XCTAssertEqual(updated.object["status"] as? String, "completed")
        XCTAssertNotNil(updated.object["endedAt"] as? String)
        XCTAssertEqual(updated.object["summary"] as? String, "done")

        XCTAssertEqual(try client.request("POST", "/api/events", json: event(id, 1)).status, 201)
        XCTAssertEqual(try client.request("DELETE", "/api/sessions/\(id)").status, 204)
        XCTAssertEqual(try client.request("GET", "/api/sessions/\(id)").status, 404)
        XCTAssertEqual(try client.request("GET", "/api/events/\(id)").object["count"] as? Int, 0)
        XCTAssertEqual(try client.request("GET", "/api/chains/\(chainId)").status, 404)
    }

    func testCommandsInputAndAck() throws {
        let command = try client.request("POST", "/api/sessions/q1/commands", json: ["type": "pause", "payload": ["why": "test"]])
        XCTAssertEqual(command.status, 201, command.text)
        let commandId = try XCTUnwrap(command.object["commandId"] as? String)
        XCTAssertEqual((command.object["command"] as? [String: Any])?["type"] as? String, "pause")
        let input = try client.request("POST", "/api/sessions/q1/input", json: ["input": "yes", "prompt": "continue?"])
        XCTAssertEqual(input.status, 201, input.text)
        XCTAssertNotNil(input.object["inputQueued"] as? [String: Any])

        let commands = try client.request("GET", "/api/sessions/q1/commands")
        XCTAssertEqual(commands.object["count"] as? Int, 1)
        XCTAssertEqual(((commands.object["commands"] as? [[String: Any]])?.first)?["id"] as? String, commandId)
        XCTAssertEqual(try client.request("GET", "/api/sessions/q1/commands").object["count"] as? Int, 0, "a drain empties the queue")
        let inputs = try client.request("GET", "/api/sessions/q1/input")
        XCTAssertEqual(inputs.object["count"] as? Int, 1)
        XCTAssertEqual(((inputs.object["inputs"] as? [[String: Any]])?.first)?["input"] as? String, "yes")

        let ack = try client.request("POST", "/api/commands/\(commandId)/ack", json: ["result": "paused"])
        XCTAssertEqual(ack.status, 200, ack.text)
        XCTAssertEqual(ack.object["acknowledged"] as? Bool, true)
    }

    func testKeepAlivePipeliningAndChunkedAndContinue() throws {
        // Three pipelined requests in one write: three responses, in order.
        let body = "{\"sessionId\":\"p1\",\"type\":\"t\",\"timestamp\":\"2026-11-24T12:00:00Z\"}"
        let one = "POST /api/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)"
        try client.sendRaw(Array((one + one + "GET /api/events/p1 HTTP/1.1\r\nHost: x\r\n\r\n").utf8))
        XCTAssertEqual(try client.readResponse().object["seq"] as? Int, 1)
        XCTAssertEqual(try client.readResponse().object["seq"] as? Int, 2)
        XCTAssertEqual(try client.readResponse().object["count"] as? Int, 2)

        // Chunked body with an extension and a trailer.
        let chunked = "POST /api/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
            + "10;ext=1\r\n\(body.prefix(16))\r\n\(String(body.utf8.count - 16, radix: 16))\r\n\(body.dropFirst(16))\r\n0\r\nX-Trailer: y\r\n\r\n"
        try client.sendRaw(Array(chunked.utf8))
        let response = try client.readResponse()
        XCTAssertEqual(response.status, 201, response.text)
        XCTAssertEqual(response.object["seq"] as? Int, 3)

        // Expect: 100-continue gets the interim response before the body is sent.
        try client.sendRaw(Array("POST /api/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nExpect: 100-continue\r\nContent-Length: \(body.utf8.count)\r\n\r\n".utf8))
        let interim = String(decoding: try client.socket.receive(), as: UTF8.self)
        XCTAssertTrue(interim.hasPrefix("HTTP/1.1 100 Continue"), interim)
        try client.sendRaw(Array(body.utf8))
        XCTAssertEqual(try client.readResponse().object["seq"] as? Int, 4)
    }

    func testCORSPreflightAndHeaders() throws {
        let preflight = try client.request("OPTIONS", "/api/events", headers: [("Origin", "http://dash.example"), ("Access-Control-Request-Method", "POST")])
        XCTAssertEqual(preflight.status, 204)
        XCTAssertEqual(preflight.header("access-control-allow-origin"), "*")
        XCTAssertNotNil(preflight.header("access-control-allow-methods"))
        let get = try client.request("GET", "/api/sessions", headers: [("Origin", "http://dash.example")])
        XCTAssertEqual(get.header("access-control-allow-origin"), "*")
    }
}
