import Foundation
import XCTest
import SBTestSupport

final class ConcurrencyAndTTLTests: XCTestCase {
    /// 200 keep-alive clients post to and read from shared sessions at once: every event gets a
    /// distinct seq, none lost or duplicated.
    func testTwoHundredConcurrentKeepAliveClients() throws {
        try XCTSkipUnless(ServerProcess.isAvailable, "switchboard binary not built")
        let server = try ServerProcess()
        defer { XCTAssertEqual(server.stop(), 0) }
        let clients = 200, perClient = 20, sessions = 10
        let failures = LockedCounter()
        DispatchQueue.concurrentPerform(iterations: clients) { c in
            do {
                let client = try TestHTTPClient(port: server.port)
                for i in 0..<perClient {
                    let event: [String: Any] = ["sessionId": "conc-\(c % sessions)", "type": "t",
                                                "timestamp": "2026-11-24T12:00:00Z", "data": ["c": c, "i": i]]
                    let response = try client.request("POST", "/api/events", json: event)
                    if response.status != 201 { failures.add() }
                    if i % 5 == 0, try client.request("GET", "/api/events/conc-\(c % sessions)?limit=5").status != 200 { failures.add() }
                }
                client.close()
            } catch {
                failures.add()
            }
        }
        XCTAssertEqual(failures.value, 0)
        let check = try TestHTTPClient(port: server.port)
        var total = 0
        for s in 0..<sessions {
            let response = try check.request("GET", "/api/events/conc-\(s)?limit=10000")
            let events = response.object["events"] as? [[String: Any]] ?? []
            let seqs = events.compactMap { $0["seq"] as? Int }
            XCTAssertEqual(seqs, Array(1...seqs.count), "seq is dense and ordered for conc-\(s)")
            let pairs = Set(events.compactMap { e -> String? in
                guard let d = e["data"] as? [String: Any], let c = d["c"] as? Int, let i = d["i"] as? Int else { return nil }
                return "\(c)-\(i)"
            })
            XCTAssertEqual(pairs.count, events.count, "no duplicated event in conc-\(s)")
            total += events.count
        }
        XCTAssertEqual(total, clients * perClient)
    }

    /// Short TTLs really expire sessions, events and queues.
    func testTTLExpiry() throws {
        try XCTSkipUnless(ServerProcess.isAvailable, "switchboard binary not built")
        let server = try ServerProcess(environment: ["SESSION_TTL": "1", "QUEUE_TTL": "1"])
        defer { server.stop() }
        let client = try TestHTTPClient(port: server.port)
        let created = try client.request("POST", "/api/sessions", json: ["cwd": "/tmp"])
        let id = try XCTUnwrap(created.object["id"] as? String)
        XCTAssertEqual(try client.request("POST", "/api/events", json: ["sessionId": "ttl-1", "type": "t", "timestamp": "2026-11-24T12:00:00Z"]).status, 201)
        XCTAssertEqual(try client.request("POST", "/api/sessions/ttl-1/commands", json: ["type": "pause"]).status, 201)
        XCTAssertEqual(try client.request("GET", "/api/sessions/\(id)").status, 200)
        let expired = try waitFor(timeout: 5) {
            try client.request("GET", "/api/sessions/\(id)").status == 404
        }
        XCTAssertTrue(expired, "session expired after SESSION_TTL")
        // Each was written a moment after the session, so each gets its own deadline.
        XCTAssertTrue(try waitFor(timeout: 5) { try client.request("GET", "/api/events/ttl-1").object["count"] as? Int == 0 })
        XCTAssertTrue(try waitFor(timeout: 5) { try client.request("GET", "/api/sessions").object["count"] as? Int == 0 })
        // GET on a queue drains it, so the queue check is last and polls without draining early:
        // it must come back empty once QUEUE_TTL has passed.
        Thread.sleep(forTimeInterval: 1.2)
        XCTAssertEqual(try client.request("GET", "/api/sessions/ttl-1/commands").object["count"] as? Int, 0)
    }

    /// HISTORY_LIMIT trims the oldest events; seq keeps counting.
    func testHistoryLimitTrims() throws {
        try XCTSkipUnless(ServerProcess.isAvailable, "switchboard binary not built")
        let server = try ServerProcess(environment: ["HISTORY_LIMIT": "5"])
        defer { server.stop() }
        let client = try TestHTTPClient(port: server.port)
        for _ in 0..<8 {
            XCTAssertEqual(try client.request("POST", "/api/events", json: ["sessionId": "h", "type": "t", "timestamp": "2026-11-24T12:00:00Z"]).status, 201)
        }
        let events = try client.request("GET", "/api/events/h").object["events"] as? [[String: Any]] ?? []
        XCTAssertEqual(events.compactMap { $0["seq"] as? Int }, [4, 5, 6, 7, 8])
    }
}

final class LockedCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var count = 0
    func add() { lock.lock(); count += 1; lock.unlock() }
    var value: Int { lock.lock(); defer { lock.unlock() }; return count }
}
