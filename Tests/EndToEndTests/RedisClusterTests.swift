import Foundation
import XCTest
import SBTestSupport
import SBWebSocket

/// Several real switchboard processes sharing one real redis-server.
final class RedisClusterTests: XCTestCase {
    override func setUpWithError() throws {
        try XCTSkipUnless(ServerProcess.isAvailable, "switchboard binary not built")
        try XCTSkipUnless(RedisTestServer.isAvailable, "redis-server not installed")
    }

    func instance(_ redis: RedisTestServer, _ extra: [String: String] = [:]) throws -> ServerProcess {
        var env = ["REDIS_URL": redis.url]
        for (k, v) in extra { env[k] = v }
        let server = try ServerProcess(environment: env)
        // /health answers before Redis is connected; these tests need the store.
        XCTAssertTrue(waitFor(timeout: 10) { (try? TestHTTPClient(port: server.port, timeoutSeconds: 2).request("GET", "/ready").status) == 200 })
        return server
    }

    func event(_ session: String, _ n: Int) -> [String: Any] {
        ["sessionId": session, "type": "t", "timestamp": "2026-11-24T12:00:00Z", "data": ["n": n]]
    }

    /// Reads events until `count` arrive or the timeout passes; returns their seqs in order.
    func collect(_ ws: TestWebSocketClient, count: Int, timeout: TimeInterval = 20) -> [Int] {
        var seqs: [Int] = []
        let deadline = Date().addingTimeInterval(timeout)
        ws.socket.setTimeout(seconds: 1)
        while seqs.count < count, Date() < deadline {
            guard let message = try? ws.nextJSON() else { continue }
            if message["type"] as? String == "event", let seq = message["seq"] as? Int { seqs.append(seq) }
        }
        return seqs
    }

    func subscribe(_ ws: TestWebSocketClient, _ session: String) throws {
        _ = try ws.nextJSON()
        try ws.sendJSON(["type": "subscribe", "sessionId": session])
        _ = try ws.next(type: "subscription_confirmed")
    }

    func testThreeInstancesDeliverExactlyOnceInOrder() throws {
        let redis = try RedisTestServer()
        let a = try instance(redis), b = try instance(redis), c = try instance(redis)
        defer { for s in [a, b, c] { XCTAssertEqual(s.stop(), 0) } }
        let onB = try TestWebSocketClient(port: b.port), onC = try TestWebSocketClient(port: c.port)
        try subscribe(onB, "multi")
        try subscribe(onC, "multi")
        let http = try TestHTTPClient(port: a.port)
        for n in 1...200 {
            XCTAssertEqual(try http.request("POST", "/api/events", json: event("multi", n)).status, 201)
        }
        XCTAssertEqual(collect(onB, count: 200), Array(1...200))
        XCTAssertEqual(collect(onC, count: 200), Array(1...200))
        // Listing and reads work from any instance.
        let created = try http.request("POST", "/api/sessions", json: ["cwd": "/srv"])
        let id = try XCTUnwrap(created.object["id"] as? String)
        let fromC = try TestHTTPClient(port: c.port)
        XCTAssertEqual(try fromC.request("GET", "/api/sessions").object["count"] as? Int, 1)
        XCTAssertEqual(try fromC.request("GET", "/api/sessions/\(id)").status, 200)
        XCTAssertEqual(try fromC.request("GET", "/api/events/multi?limit=5").object["count"] as? Int, 5)
        let health = try fromC.request("GET", "/health").object
        XCTAssertEqual(health["storage"] as? String, "redis")
        XCTAssertEqual((health["redis"] as? [String: Any])?["connected"] as? Bool, true)
    }

    func testEveryKeyHasATTL() throws {
        let redis = try RedisTestServer()
        let a = try instance(redis, ["SESSION_TTL": "1000", "QUEUE_TTL": "100"])
        defer { a.stop() }
        let http = try TestHTTPClient(port: a.port)
        let id = try XCTUnwrap(try http.request("POST", "/api/sessions", json: ["cwd": "/w", "id": "ttl-s"]).object["id"] as? String)
        XCTAssertEqual(try http.request("POST", "/api/events", json: event(id, 1)).status, 201)
        XCTAssertEqual(try http.request("POST", "/api/sessions/\(id)/chains", json: ["name": "c"]).status, 201)
        XCTAssertEqual(try http.request("POST", "/api/sessions/\(id)/commands", json: ["type": "pause"]).status, 201)
        XCTAssertEqual(try http.request("POST", "/api/sessions/\(id)/input", json: ["input": "x"]).status, 201)
        let keys = try redis.command(["KEYS", "afw:*"]).split(separator: "\r\n").filter { $0.hasPrefix("afw:") }.map(String.init)
        XCTAssertGreaterThanOrEqual(keys.count, 8, "\(keys)")
        for key in keys where key != "afw:sessions:index" {
            let ttl = try redis.command(["TTL", key]).trimmingCharacters(in: .whitespacesAndNewlines)
            let seconds = Int(ttl.dropFirst()) ?? -1
            XCTAssertGreaterThan(seconds, 0, "\(key) has TTL \(ttl)")
            // The epoch outlives the seq counter by a minute, so a counter that expires first
            // always starts a new epoch (REDIS_INTEGRATION.md).
            let expected = key.contains("commands:") || key.contains("input:") || key.contains("command:") ? 100
                : key.contains("epoch:") ? 1060 : 1000
            XCTAssertLessThanOrEqual(seconds, expected, key)
        }
        // The index is pruned when sessions expire: delete the session key behind its back.
        try redis.command(["DEL", "afw:sessions:\(id)"])
        XCTAssertEqual(try http.request("GET", "/api/sessions").object["count"] as? Int, 0)
        XCTAssertTrue(try redis.command(["ZCARD", "afw:sessions:index"]).hasPrefix(":0"))
    }

    func testRacingDrainersGetEachCommandOnce() throws {
        let redis = try RedisTestServer()
        let a = try instance(redis), b = try instance(redis)
        defer { a.stop(); b.stop() }
        let total = 10_000
        // Push in batches from A while two pollers (one per instance) drain concurrently.
        let taken = LockedList()
        let pusherDone = LockedCounter()
        DispatchQueue.concurrentPerform(iterations: 3) { worker in
            if worker == 0 {
                guard let http = try? TestHTTPClient(port: a.port) else { return }
                for _ in 0..<total { _ = try? http.request("POST", "/api/sessions/race/commands", json: ["type": "retry"]) }
                pusherDone.add()
            } else {
                guard let http = try? TestHTTPClient(port: worker == 1 ? a.port : b.port) else { return }
                var idle = 0
                while idle < 50 {
                    guard let response = try? http.request("GET", "/api/sessions/race/commands") else { break }
                    let ids = (response.object["commands"] as? [[String: Any]] ?? []).compactMap { $0["id"] as? String }
                    taken.append(ids)
                    if ids.isEmpty && pusherDone.value > 0 { idle += 1 }
                }
            }
        }
        let ids = taken.items
        XCTAssertEqual(ids.count, total, "every command drained")
        XCTAssertEqual(Set(ids).count, total, "no command drained twice")
    }

    func testOldBackendChannelMessageIsDelivered() throws {
        let redis = try RedisTestServer()
        let a = try instance(redis)
        defer { a.stop() }
        let ws = try TestWebSocketClient(port: a.port)
        try subscribe(ws, "legacy")
        try redis.command(["PUBLISH", "afw:events", #"{"sessionId":"legacy","event":{"type":"tool_use","sessionId":"legacy","timestamp":"2026-11-24T12:00:00Z"},"timestamp":"2026-11-24T12:00:00Z"}"#])
        let message = try ws.next(type: "event")
        XCTAssertEqual(message["sessionId"] as? String, "legacy")
        XCTAssertEqual((message["payload"] as? [String: Any])?["type"] as? String, "tool_use")
    }

    /// Redis is SIGKILLed mid-stream and restarted on its AOF while a publisher keeps posting
    /// (retrying on 503). Every event answered 2xx reaches the subscriber exactly once, in order;
    /// while Redis is down, writes get 503 with Retry-After and /ready is 503.
    func testRedisCrashAndRestartLosesNothing() throws {
        let redis = try RedisTestServer(appendOnly: true)
        let a = try instance(redis), b = try instance(redis)
        defer { a.stop(); b.stop() }
        let ws = try TestWebSocketClient(port: b.port)
        try subscribe(ws, "crash")
        let acknowledged = LockedList()
        let saw503 = LockedCounter()
        let stop = LockedCounter()
        let port = a.port
        let publisher = Thread {
            guard let http = try? TestHTTPClient(port: port) else { return }
            var n = 0
            while stop.value == 0 && n < 400 {
                n += 1
                while stop.value == 0 {
                    let body: [String: Any] = ["sessionId": "crash", "type": "t", "timestamp": "2026-11-24T12:00:00Z", "data": ["n": n]]
                    // A retry after an ambiguous 503 carries the same key: stored once.
                    guard let response = try? http.request("POST", "/api/events", headers: [("Idempotency-Key", "crash-\(n)")], json: body)
                    else { break }
                    if response.status == 201 || response.status == 200 {
                        acknowledged.append([String(response.object["seq"] as? Int ?? -1)])
                        break
                    }
                    if response.status == 503 && response.header("retry-after") != nil { saw503.add() }
                    Thread.sleep(forTimeInterval: 0.02)
                }
                Thread.sleep(forTimeInterval: 0.005)
            }
            stop.add()
        }
        publisher.start()
        XCTAssertTrue(waitFor(timeout: 10) { acknowledged.items.count >= 50 })
        redis.kill(signal: SIGKILL)
        let probe = try TestHTTPClient(port: a.port)
        XCTAssertTrue(try waitFor(timeout: 5) { try probe.request("GET", "/ready").status == 503 })
        XCTAssertEqual((try probe.request("GET", "/health").object["redis"] as? [String: Any])?["connected"] as? Bool, false)
        let down = try probe.request("POST", "/api/events", json: event("crash", 0))
        XCTAssertEqual(down.status, 503)
        XCTAssertNotNil(down.header("retry-after"))
        Thread.sleep(forTimeInterval: 0.5)
        try redis.start()
        XCTAssertTrue(try waitFor(timeout: 10) { try probe.request("GET", "/ready").status == 200 })
        XCTAssertTrue(waitFor(timeout: 30) { stop.value > 0 })
        let seqs = acknowledged.items.compactMap { Int($0) }
        XCTAssertGreaterThan(saw503.value, 0, "the outage was visible to the publisher")
        XCTAssertEqual(seqs.count, 400, "every event was acknowledged in the end")
        XCTAssertEqual(seqs, seqs.sorted(), "seqs only grow")
        XCTAssertEqual(Set(seqs).count, seqs.count, "no seq acknowledged twice: numbering continues after the restart (AOF)")
        // A POST whose script ran just before the SIGKILL is stored but its reply was lost, so it
        // was answered 503; its retry carries the same Idempotency-Key and is answered with the
        // original seq: every event is stored exactly once, so the seqs are exactly 1...400.
        XCTAssertEqual(seqs, Array(1...400), "each event stored once, retries included")
        let delivered = collect(ws, count: 400, timeout: 20)
        XCTAssertEqual(delivered, Array(1...400), "every stored event exactly once, in order")
        let stored = try probe.request("GET", "/api/events/crash?limit=1000").object["count"] as? Int
        XCTAssertEqual(stored, 400, "nothing stored twice")
    }
}

final class LockedList: @unchecked Sendable {
    private let lock = NSLock()
    private var list: [String] = []
    func append(_ items: [String]) { lock.lock(); list += items; lock.unlock() }
    var items: [String] { lock.lock(); defer { lock.unlock() }; return list }
}
