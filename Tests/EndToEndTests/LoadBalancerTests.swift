import Foundation
import XCTest
import SBTestSupport
import SBWebSocket

/// Two instances behind a real nginx: the instance holding a dashboard's WebSocket is killed
/// with SIGKILL; the dashboard reconnects through nginx with lastEventId and misses nothing,
/// duplicates nothing.
final class LoadBalancerTests: XCTestCase {
    func testInstanceKilledClientResumesThroughNginx() throws {
        try XCTSkipUnless(ServerProcess.isAvailable && RedisTestServer.isAvailable && NginxProcess.isAvailable, "needs binary, redis-server and nginx")
        let redis = try RedisTestServer()
        let one = try ServerProcess(environment: ["REDIS_URL": redis.url, "INSTANCE_ID": "one"])
        let two = try ServerProcess(environment: ["REDIS_URL": redis.url, "INSTANCE_ID": "two"])
        defer { one.stop(); two.stop() }
        let nginx = try NginxProcess(upstreams: [one.port, two.port])
        defer { nginx.stop() }

        var ws = try TestWebSocketClient(port: nginx.port)
        let greeting = try ws.nextJSON()
        let holder = (greeting["payload"] as? [String: Any])?["instanceId"] as? String
        try ws.sendJSON(["type": "subscribe", "sessionId": "lb"])
        _ = try ws.next(type: "subscription_confirmed")

        // Publish through nginx on a background thread, retrying until each event gets a 2xx.
        let acknowledged = LockedList()
        let done = LockedCounter()
        let port = nginx.port
        let publisher = Thread {
            var client = try? TestHTTPClient(port: port)
            for n in 1...300 {
                let body: [String: Any] = ["sessionId": "lb", "type": "t", "timestamp": "2026-11-24T12:00:00Z", "n": n]
                for _ in 0..<200 {
                    if client == nil { client = try? TestHTTPClient(port: port) }
                    if let response = try? client?.request("POST", "/api/events", json: body), response.status == 201 {
                        acknowledged.append([String(response.object["seq"] as? Int ?? -1)])
                        break
                    }
                    client = nil
                    Thread.sleep(forTimeInterval: 0.02)
                }
                Thread.sleep(forTimeInterval: 0.003)
            }
            done.add()
        }
        publisher.start()

        var seen: [Int] = []
        ws.socket.setTimeout(seconds: 1)
        while seen.count < 60, let m = try? ws.nextJSON() {
            if m["type"] as? String == "event", let seq = m["seq"] as? Int { seen.append(seq) }
        }
        XCTAssertEqual(seen.count, 60)
        (holder == "one" ? one : two).stop(signal: SIGKILL)
        // Drain whatever the dead connection still delivered, then reconnect with lastEventId.
        while let m = try? ws.nextJSON() {
            if m["type"] as? String == "event", let seq = m["seq"] as? Int { seen.append(seq) }
        }
        ws.close()
        var reconnected = false
        for _ in 0..<50 where !reconnected {
            if let fresh = try? TestWebSocketClient(port: nginx.port) {
                ws = fresh
                reconnected = true
            } else {
                Thread.sleep(forTimeInterval: 0.1)
            }
        }
        XCTAssertTrue(reconnected)
        _ = try ws.nextJSON()
        try ws.sendJSON(["type": "subscribe", "sessionId": "lb", "lastEventId": seen.last ?? 0])
        XCTAssertTrue(waitFor(timeout: 60) { done.value > 0 })
        let total = acknowledged.items.count
        XCTAssertEqual(total, 300)
        ws.socket.setTimeout(seconds: 1)
        let deadline = Date().addingTimeInterval(20)
        while seen.count < total, Date() < deadline {
            guard let m = try? ws.nextJSON() else { continue }
            if m["type"] as? String == "event", let seq = m["seq"] as? Int { seen.append(seq) }
        }
        XCTAssertEqual(seen, Array(1...total), "no gap, no duplicate across the instance failure")
    }
}
