import XCTest
@testable import SBHub

final class TrustedProxiesTests: XCTestCase {
    func testBlocksAndClientSelection() throws {
        let proxies = try TrustedProxies(parsing: "10.0.0.0/8, 192.168.1.7, ::1/128, 2001:db8::/32")
        XCTAssertTrue(proxies.contains("10.200.3.4"))
        XCTAssertFalse(proxies.contains("11.0.0.1"))
        XCTAssertTrue(proxies.contains("192.168.1.7"))
        XCTAssertFalse(proxies.contains("192.168.1.8"))
        XCTAssertTrue(proxies.contains("::1"))
        XCTAssertTrue(proxies.contains("2001:db8:1::5"))
        XCTAssertTrue(proxies.contains("::ffff:10.1.2.3"), "IPv4-mapped addresses compare as IPv4")
        XCTAssertFalse(proxies.contains("not an address"))
        // The rightmost untrusted hop is the client.
        XCTAssertEqual(proxies.client(peer: "10.0.0.1", forwardedFor: "1.1.1.1, 2.2.2.2, 10.0.0.2"), "2.2.2.2")
        XCTAssertEqual(proxies.client(peer: "10.0.0.1", forwardedFor: nil), "10.0.0.1")
        XCTAssertEqual(proxies.client(peer: "8.8.8.8", forwardedFor: "1.1.1.1"), "8.8.8.8", "untrusted peer: header ignored")
        XCTAssertEqual(proxies.client(peer: "10.0.0.1", forwardedFor: "garbage, 10.0.0.3"), "10.0.0.3", "stops at garbage")
        XCTAssertThrowsError(try TrustedProxies(parsing: "10.0.0.0/33"))
        XCTAssertThrowsError(try TrustedProxies(parsing: "example.com"))
        XCTAssertTrue(try TrustedProxies(parsing: " , ").isEmpty)
    }
}

final class RateLimiterTests: XCTestCase {
    func testBucketsPerClientAndBoundedMap() {
        var limiter = RateLimiter(rate: 1, burst: 2, capacity: 100)
        let t0: UInt64 = 1_000_000_000_000
        XCTAssertNil(limiter.take("a", now: t0))
        XCTAssertNil(limiter.take("a", now: t0))
        XCTAssertNotNil(limiter.take("a", now: t0), "burst spent")
        XCTAssertNil(limiter.take("b", now: t0), "another client, another bucket")
        for i in 0..<10_000 {
            _ = limiter.take("client-\(i)", now: t0 + UInt64(i))
            XCTAssertLessThanOrEqual(limiter.entries.count, 100)
        }
        // Idle buckets (full again) are forgotten by the periodic sweep.
        _ = limiter.take("late", now: t0 + 60_000_000_000)
        XCTAssertEqual(limiter.entries.count, 1)
    }

    /// Issue 21: RATE_LIMIT=inf / 1e-30 and RATE_BURST=1e12 trapped on a Double→Int
    /// conversion at the first request. Startup now refuses them, and the limiter itself is
    /// total for any rate and burst: a request answers, it never traps.
    func testExtremeRatesAnswerInsteadOfTrapping() {
        let t0: UInt64 = 1_000_000_000_000
        for (rate, burst) in [(Double.infinity, 0.0), (1e999, 1e999), (1e-30, 0), (1, 1e12), (1e-300, 1e300),
                              (Double.leastNonzeroMagnitude, 1), (Double.greatestFiniteMagnitude, Double.greatestFiniteMagnitude)] {
            var limiter = RateLimiter(rate: rate, burst: burst, capacity: 10)
            XCTAssertLessThanOrEqual(limiter.idleAfter, UInt64(TokenRate.longestWaitSeconds + 1) * 1_000_000_000)
            for i in 0..<5 {
                if let wait = limiter.take("a", now: t0 + UInt64(i)) {
                    XCTAssertTrue((1...TokenRate.longestWaitSeconds).contains(wait), "rate \(rate) burst \(burst): wait \(wait)")
                }
            }
            _ = limiter.take("b", now: t0 + 100_000_000_000_000)  // the sweep with its idleAfter
        }
        XCTAssertEqual(Double.nan.clampedToInt(1...5), 1)
        XCTAssertEqual(Double.infinity.clampedToInt(1...5), 5)
        XCTAssertEqual((-Double.infinity).clampedToInt(1...5), 1)
        XCTAssertEqual(1e300.clampedToInt(0...Int.max), Int.max)
        XCTAssertEqual(3.7.clampedToInt(1...5), 3)
    }
}
