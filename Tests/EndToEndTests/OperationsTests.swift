import Foundation
import XCTest
import SBTestSupport
import SBWebSocket

/// Metrics exposition and graceful shutdown under load.
final class OperationsTests: XCTestCase {
    override func setUpWithError() throws {
        try XCTSkipUnless(ServerProcess.isAvailable, "switchboard binary not built")
    }

    func metricValue(_ text: String, _ prefix: String) -> Double? {
        text.split(separator: "\n").first { $0.hasPrefix(prefix + " ") }.flatMap { Double($0.split(separator: " ").last ?? "") }
    }

    func testMetricsPassPromtoolAndCountersMove() throws {
        let server = try ServerProcess(environment: ["METRICS_PUBLIC": "true", "API_KEY": "ops-key-0123456789ab"])
        defer { server.stop() }
        let http = try TestHTTPClient(port: server.port)
        let ws = try TestWebSocketClient(port: server.port, headers: [("x-api-key", "ops-key-0123456789ab")])
        _ = try ws.nextJSON()
        try ws.sendJSON(["type": "subscribe", "sessionId": "m"])
        _ = try ws.next(type: "subscription_confirmed")
        for _ in 0..<7 {
            XCTAssertEqual(try http.request("POST", "/api/events", headers: [("x-api-key", "ops-key-0123456789ab")],
                                            json: ["sessionId": "m", "type": "t", "timestamp": "2026-11-24T12:00:00Z"]).status, 201)
        }
        for _ in 0..<7 { _ = try ws.next(type: "event") }
        // A late subscriber gets the seven from history: counted apart, under kind="replay".
        let late = try TestWebSocketClient(port: server.port, headers: [("x-api-key", "ops-key-0123456789ab")])
        _ = try late.nextJSON()
        try late.sendJSON(["type": "subscribe", "sessionId": "m", "lastEventId": 0])
        for _ in 0..<7 { _ = try late.next(type: "event") }
        let metrics = try http.request("GET", "/metrics")
        XCTAssertEqual(metrics.status, 200, "METRICS_PUBLIC serves /metrics without the key")
        let text = metrics.text
        XCTAssertEqual(metricValue(text, "switchboard_deliveries_total"), 7)
        XCTAssertEqual(metricValue(text, "switchboard_events_accepted_total"), 7)
        XCTAssertEqual(metricValue(text, "switchboard_subscriptions"), 2, "the live and the late subscriber")
        XCTAssertEqual(metricValue(text, "switchboard_open_websockets"), 2)
        XCTAssertEqual(metricValue(text, #"switchboard_http_requests_total{route="/api/events",method="POST",status="201"}"#), 7, text)
        XCTAssertTrue(text.contains("switchboard_publish_to_delivery_seconds_bucket"))
        XCTAssertTrue(text.contains("switchboard_http_request_duration_seconds_bucket"))
        // Delivery lag: seven live deliveries within a second on one host; seven replayed
        // events timed from their own timestamp (days ago), so all above the last bound.
        XCTAssertEqual(metricValue(text, #"switchboard_delivery_lag_seconds_count{kind="live"}"#), 7, text)
        XCTAssertEqual(metricValue(text, #"switchboard_delivery_lag_seconds_bucket{kind="live",le="1"}"#), 7, text)
        XCTAssertEqual(metricValue(text, #"switchboard_delivery_lag_seconds_count{kind="replay"}"#), 7, text)
        XCTAssertEqual(metricValue(text, #"switchboard_delivery_lag_seconds_bucket{kind="replay",le="300"}"#), 0, text)
        XCTAssertEqual(metricValue(text, #"switchboard_delivery_lag_seconds_bucket{kind="replay",le="+Inf"}"#), 7, text)
        let promtool = "/usr/bin/promtool"
        if FileManager.default.isExecutableFile(atPath: promtool) {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: promtool)
            process.arguments = ["check", "metrics"]
            let input = Pipe(), output = Pipe()
            process.standardInput = input
            process.standardOutput = output
            process.standardError = output
            try process.run()
            input.fileHandleForWriting.write(Data(metrics.body))
            try input.fileHandleForWriting.close()
            process.waitUntilExit()
            let said = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            XCTAssertEqual(process.terminationStatus, 0, "promtool: \(said)")
        }
    }

    /// SIGTERM while subscribers receive and a client posts: every 2xx event is in Redis
    /// (read back from another instance), every WebSocket client saw 1001, exit 0 in time.
    func testSIGTERMUnderLoadDrainsCleanly() throws {
        try XCTSkipUnless(RedisTestServer.isAvailable, "redis-server not installed")
        let redis = try RedisTestServer()
        let target = try ServerProcess(environment: ["REDIS_URL": redis.url, "SHUTDOWN_TIMEOUT": "5"])
        let witness = try ServerProcess(environment: ["REDIS_URL": redis.url])
        defer { target.stop(); witness.stop() }
        let clients = try (0..<20).map { i -> TestWebSocketClient in
            let ws = try TestWebSocketClient(port: target.port)
            _ = try ws.nextJSON()
            try ws.sendJSON(["type": "subscribe", "sessionId": "drain-\(i % 4)"])
            _ = try ws.next(type: "subscription_confirmed")
            return ws
        }
        let acknowledged = LockedList()
        let stop = LockedCounter()
        let port = target.port
        let poster = Thread {
            var n = 0
            while stop.value == 0, let http = try? TestHTTPClient(port: port, timeoutSeconds: 3) {
                while stop.value == 0 {
                    n += 1
                    let body: [String: Any] = ["sessionId": "drain-\(n % 4)", "type": "t", "timestamp": "2026-11-24T12:00:00Z", "n": n]
                    guard let response = try? http.request("POST", "/api/events", json: body) else { break }
                    if response.status == 201, let id = response.object["eventId"] as? String { acknowledged.append([id]) }
                }
            }
        }
        poster.start()
        XCTAssertTrue(waitFor(timeout: 10) { acknowledged.items.count > 200 })
        let started = Date()
        target.signal(SIGTERM)
        var codes: [UInt16?] = []
        for ws in clients {
            ws.socket.setTimeout(seconds: 5)
            var code: UInt16?
            while let event = try? ws.next() {
                if case .close(let c, _) = event { code = c; try? ws.sendClose(code: 1001); break }
            }
            codes.append(code)
        }
        XCTAssertEqual(target.waitForExit(timeout: 8), 0, target.log())
        let elapsed = Date().timeIntervalSince(started)
        stop.add()
        XCTAssertLessThan(elapsed, 5, "drained within SHUTDOWN_TIMEOUT")
        XCTAssertEqual(codes, Array(repeating: 1001, count: clients.count), "every client got 1001")
        // Every acknowledged event is stored: read all four sessions back from the other instance.
        let check = try TestHTTPClient(port: witness.port)
        var stored = Set<String>()
        for s in 0..<4 {
            let events = try check.request("GET", "/api/events/drain-\(s)?limit=10000").object["events"] as? [[String: Any]] ?? []
            stored.formUnion(events.compactMap { $0["eventId"] as? String })
        }
        let acked = Set(acknowledged.items)
        XCTAssertTrue(acked.isSubset(of: stored), "\(acked.subtracting(stored).count) acknowledged events missing")
        XCTAssertTrue(target.log().contains("draining"), "shutdown is logged step by step")
    }
}
