import Foundation
import XCTest
import SBTestSupport
import SBWebSocket

/// API key, Origin allowlist, rate limits and the connection cap, against real processes.
final class PolicyTests: XCTestCase {
    override func setUpWithError() throws {
        try XCTSkipUnless(ServerProcess.isAvailable, "switchboard binary not built")
    }

    let event: [String: Any] = ["sessionId": "p", "type": "t", "timestamp": "2026-11-24T12:00:00Z"]

    func testAPIKeyOnRESTAndWebSocketAndNeverLogged() throws {
        let key = "s3cret-key-XYZ-0123456789"
        let server = try ServerProcess(environment: ["API_KEY": key, "LOG_LEVEL": "debug"])
        defer { server.stop() }
        let http = try TestHTTPClient(port: server.port)
        XCTAssertEqual(try http.request("GET", "/health").status, 200, "health needs no key")
        XCTAssertEqual(try http.request("GET", "/ready").status, 200, "ready needs no key")
        let denied = try http.request("POST", "/api/events", json: event)
        XCTAssertEqual(denied.status, 401)
        XCTAssertNotNil(denied.object["error"] as? String)
        XCTAssertEqual(try http.request("GET", "/metrics").status, 401)
        XCTAssertEqual(try http.request("GET", "/api/sessions", headers: [("x-api-key", "wrong")]).status, 401)
        XCTAssertEqual(try http.request("POST", "/api/events", headers: [("Authorization", "Bearer \(key)")], json: event).status, 201)
        XCTAssertEqual(try http.request("GET", "/api/sessions", headers: [("x-api-key", key)]).status, 200)
        XCTAssertEqual(try http.request("GET", "/api/events/p?apiKey=\(key)").status, 200)
        XCTAssertThrowsError(try TestWebSocketClient(port: server.port), "upgrade without a key is refused")
        let ws = try TestWebSocketClient(port: server.port, path: "/ws?apiKey=\(key)")
        XCTAssertEqual(try ws.nextJSON()["type"] as? String, "subscription_confirmed")
        _ = try TestWebSocketClient(port: server.port, headers: [("Authorization", "Bearer \(key)")])
        XCTAssertEqual(server.stop(), 0)
        let log = server.log()
        XCTAssertTrue(log.contains("path=/api/events/p"), "requests are logged at debug")
        XCTAssertFalse(log.contains(key), "the key never appears in logs")
    }

    func testOriginAllowlist() throws {
        let server = try ServerProcess(environment: ["ALLOWED_ORIGINS": "https://dash.example, http://localhost:5173"])
        defer { server.stop() }
        XCTAssertNoThrow(try TestWebSocketClient(port: server.port, headers: [("Origin", "https://dash.example")]))
        do {
            _ = try TestWebSocketClient(port: server.port, headers: [("Origin", "https://evil.example")])
            XCTFail("foreign origin accepted")
        } catch {
            XCTAssertTrue("\(error)".contains("403"), "\(error)")
        }
        // No Origin: a non-browser client (agent, CLI), authenticated by the key: accepted.
        XCTAssertNoThrow(try TestWebSocketClient(port: server.port))
        let http = try TestHTTPClient(port: server.port)
        let allowed = try http.request("GET", "/api/sessions", headers: [("Origin", "http://localhost:5173")])
        XCTAssertEqual(allowed.header("access-control-allow-origin"), "http://localhost:5173")
        let other = try http.request("GET", "/api/sessions", headers: [("Origin", "https://evil.example")])
        XCTAssertNil(other.header("access-control-allow-origin"))
    }

    /// The key is checked before the Origin: no key → 401, key but a foreign Origin → 403,
    /// key and no Origin → accepted.
    func testOriginAfterKeyOnUpgrade() throws {
        let server = try ServerProcess(environment: ["ALLOWED_ORIGINS": "https://dash.example", "API_KEY": "k3y-0123456789abcdef"])
        defer { server.stop() }
        func status(_ headers: [(String, String)]) -> String {
            do {
                _ = try TestWebSocketClient(port: server.port, headers: headers)
                return "101"
            } catch {
                return "\(error)"
            }
        }
        XCTAssertTrue(status([]).contains("401"), status([]))
        XCTAssertTrue(status([("Origin", "https://evil.example")]).contains("401"), "no key: 401 whatever the Origin")
        XCTAssertTrue(status([("Authorization", "Bearer k3y-0123456789abcdef"), ("Origin", "https://evil.example")]).contains("403"))
        XCTAssertEqual(status([("Authorization", "Bearer k3y-0123456789abcdef")]), "101")
        XCTAssertEqual(status([("x-api-key", "k3y-0123456789abcdef"), ("Origin", "https://dash.example")]), "101")
    }

    /// Behind a trusted proxy each forwarded client has its own bucket; from an untrusted peer
    /// the header is ignored (a client cannot pick its own address).
    func testRateLimitPerForwardedClientBehindTrustedProxies() throws {
        let server = try ServerProcess(environment: ["RATE_LIMIT": "2", "RATE_BURST": "2", "TRUSTED_PROXIES": "127.0.0.0/8, ::1"])
        defer { server.stop() }
        let http = try TestHTTPClient(port: server.port)
        func statuses(_ client: String) throws -> [Int] {
            try (0..<3).map { _ in try http.request("POST", "/api/events", headers: [("X-Forwarded-For", "\(client), 127.0.0.9")], json: event).status }
        }
        XCTAssertEqual(try statuses("203.0.113.1"), [201, 201, 429])
        XCTAssertEqual(try statuses("203.0.113.2"), [201, 201, 429], "another client behind the same proxy has its own bucket")
        let untrusted = try ServerProcess(environment: ["RATE_LIMIT": "2", "RATE_BURST": "2", "TRUSTED_PROXIES": "10.0.0.0/8"])
        defer { untrusted.stop() }
        let direct = try TestHTTPClient(port: untrusted.port)
        let spoofed = try (0..<3).map { i in
            try direct.request("POST", "/api/events", headers: [("X-Forwarded-For", "198.51.100.\(i)")], json: event).status
        }
        XCTAssertEqual(spoofed, [201, 201, 429], "the peer is not a trusted proxy: its header is ignored")
    }

    /// Made-up methods count as `other`: a client cannot grow the metric set.
    func testMetricLabelsComeFromClosedSets() throws {
        let server = try ServerProcess()
        defer { server.stop() }
        let http = try TestHTTPClient(port: server.port)
        func metricLines() throws -> Int {
            try String(decoding: http.request("GET", "/metrics").body, as: UTF8.self).split(separator: "\n").count
        }
        _ = try http.request("FOO0", "/x/0")
        _ = try metricLines()  // the first scrape adds the /metrics route's own series
        let before = try metricLines()
        for i in 1..<300 {
            _ = try TestHTTPClient(port: server.port).request("M\(i)X", "/made/up/\(i)")
        }
        let after = try metricLines()
        XCTAssertEqual(after, before, "300 made-up methods and paths added \(after - before) lines")
        XCTAssertTrue(String(decoding: try http.request("GET", "/metrics").body, as: UTF8.self).contains("method=\"other\""))
    }

    func testRESTWriteRateLimit() throws {
        let server = try ServerProcess(environment: ["RATE_LIMIT": "5", "RATE_BURST": "5"])
        defer { server.stop() }
        let http = try TestHTTPClient(port: server.port)
        var statuses: [Int] = []
        var retryAfter: String?
        for _ in 0..<8 {
            let response = try http.request("POST", "/api/events", json: event)
            statuses.append(response.status)
            if response.status == 429 { retryAfter = response.header("retry-after") }
        }
        XCTAssertEqual(statuses.prefix(5).filter { $0 == 201 }.count, 5)
        XCTAssertTrue(statuses.contains(429))
        XCTAssertNotNil(retryAfter)
        XCTAssertEqual(try http.request("GET", "/api/events/p").status, 200, "reads are not limited")
        XCTAssertLessThanOrEqual(try http.request("GET", "/api/events/p").object["count"] as? Int ?? 99, 6, "a 429 stored nothing")
    }

    func testWebSocketMessageRateLimit() throws {
        let server = try ServerProcess(environment: ["WS_RATE_LIMIT": "5"])
        defer { server.stop() }
        let ws = try TestWebSocketClient(port: server.port)
        _ = try ws.nextJSON()
        for _ in 0..<40 { try ws.sendJSON(["type": "ping"]) }
        var limited = false
        var closeCode: UInt16?
        ws.socket.setTimeout(seconds: 2)
        while let event = try? ws.next() {
            if case .text(let bytes) = event, String(decoding: bytes, as: UTF8.self).contains("rate_limited") { limited = true }
            if case .close(let code, _) = event { closeCode = code; break }
        }
        XCTAssertTrue(limited, "excess messages get an error")
        XCTAssertEqual(closeCode, 1008, "sustained abuse is closed with 1008")
    }

    func testMaxConnections() throws {
        let server = try ServerProcess(environment: ["MAX_CONNECTIONS": "3"])
        defer { server.stop() }
        let held = try (0..<2).map { _ in try TestWebSocketClient(port: server.port) }
        _ = held
        Thread.sleep(forTimeInterval: 0.2)
        let http = try TestHTTPClient(port: server.port)
        XCTAssertEqual(try http.request("GET", "/health").status, 200, "third connection fits")
        let extra = try TestSocket(port: server.port)
        try extra.send("GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        let reply = String(decoding: extra.receiveUntilClose(), as: UTF8.self)
        XCTAssertTrue(reply.hasPrefix("HTTP/1.1 503"), reply)
    }
}
