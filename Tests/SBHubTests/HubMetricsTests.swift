import XCTest
import SBCore
import SBHTTP
@testable import SBHub

/// The request counters are found by index (status slot, route label, method), not by hashing
/// labels: each combination still gets its own series, with the right labels and count.
final class HubMetricsTests: XCTestCase {
    private func value(_ text: String, _ series: String) -> Double? {
        for line in text.split(separator: "\n") where line.hasPrefix(series + " ") {
            return Double(line.dropFirst(series.count + 1))
        }
        return nil
    }

    func testRequestCountersKeepEveryCombinationApart() {
        let metrics = HubMetrics()
        let cache = metrics.makeRequestInstruments()
        let rows: [(HubMetrics.RequestLabel, HTTPMethodName, Int, Int)] = [
            (.postEvents, .post, 201, 5), (.postEvents, .post, 400, 2), (.postEvents, .put, 405, 1),
            (.health, .get, 200, 3), (.health, .head, 200, 4), (.unmatched, .other, 404, 2),
            (.preflight, .options, 204, 1), (.sessions, .get, 418, 1), (.session, .delete, 599, 1), (.echo, .get, 100, 1),
        ]
        for (label, method, status, count) in rows {
            for _ in 0..<count { metrics.recordRequest(route: label, method: method.method, status: status, startedAt: 0, cache: cache) }
        }
        // Out of the cached range: still counted, through the registry.
        metrics.recordRequest(route: .ready, method: .get, status: 600, startedAt: 0, cache: cache)
        metrics.recordRequest(route: .ready, method: .get, status: 600, startedAt: 0, cache: cache)
        let text = String(decoding: metrics.render(), as: UTF8.self)
        for (label, method, status, count) in rows {
            let series = #"switchboard_http_requests_total{route="\#(label.text)",method="\#(method.rawValue)",status="\#(status)"}"#
            XCTAssertEqual(value(text, series), Double(count), series)
        }
        XCTAssertEqual(value(text, #"switchboard_http_requests_total{route="/ready",method="GET",status="600"}"#), 2)
        XCTAssertEqual(value(text, #"switchboard_http_request_duration_seconds_count{route="/health"}"#), 7)
        XCTAssertEqual(value(text, #"switchboard_http_request_duration_seconds_count{route="/api/events"}"#), 8)
        XCTAssertEqual(cache.counters.count, 9, "one slot per status code seen in range (201 400 405 200 404 204 418 599 100)")
    }

    /// Request durations are counted per loop and rendered as the registry's histogram was:
    /// same series, bounds and `le` labels, cumulative buckets, the routes seen only.
    func testRequestDurationsRenderAsTheRegistryHistogramDid() {
        let durations = RequestDurations()
        let first = durations.makeSlot(), second = durations.makeSlot()
        first.counts.withLock {
            $0.record(route: HubMetrics.RequestLabel.health.rawValue, nanos: 100_000)  // on the bound: le="0.0001"
            $0.record(route: HubMetrics.RequestLabel.health.rawValue, nanos: 100_001)
        }
        second.counts.withLock {
            $0.record(route: HubMetrics.RequestLabel.health.rawValue, nanos: 3_000_000_000)  // +Inf
            $0.record(route: HubMetrics.RequestLabel.health.rawValue, nanos: -5)  // a clock step back counts as 0
        }
        var out: [UInt8] = []
        RequestDurations.render(durations.snapshot(), into: &out)
        let bucket = { (le: String, n: Int) in #"switchboard_http_request_duration_seconds_bucket{route="/health",le="\#(le)"} \#(n)"# }
        XCTAssertEqual(String(decoding: out, as: UTF8.self).split(separator: "\n").map(String.init), [
            "# HELP switchboard_http_request_duration_seconds HTTP request handling time by route.",
            "# TYPE switchboard_http_request_duration_seconds histogram",
            bucket("0.0001", 2), bucket("0.00025", 3), bucket("0.0005", 3), bucket("0.001", 3), bucket("0.0025", 3),
            bucket("0.005", 3), bucket("0.01", 3), bucket("0.025", 3), bucket("0.05", 3), bucket("0.1", 3), bucket("0.25", 3),
            bucket("0.5", 3), bucket("1.0", 3), bucket("2.5", 3), bucket("+Inf", 4),
            #"switchboard_http_request_duration_seconds_sum{route="/health"} 3.000200001"#,
            #"switchboard_http_request_duration_seconds_count{route="/health"} 4"#,
        ])
        var none: [UInt8] = []
        RequestDurations.render(RequestDurations().snapshot(), into: &none)
        XCTAssertTrue(none.isEmpty, "no request yet: no family, as with the registry")
        XCTAssertEqual(RequestDurations.boundLabels.count, RequestDurations.boundsNanos.count)
        for (index, (label, nanos)) in zip(RequestDurations.boundLabels, RequestDurations.boundsNanos).enumerated() {
            XCTAssertEqual(Double(label), Double(nanos) / 1e9, label)
            XCTAssertEqual(RequestDurations.bucket(ofNanos: nanos), index, "a bound is in its own bucket")
            XCTAssertEqual(RequestDurations.bucket(ofNanos: nanos + 1), index + 1, "past it, the next")
        }
        XCTAssertEqual(RequestDurations.bucket(ofNanos: 0), 0)
    }

    func testEveryLabelIsDistinct() {
        let texts = HubMetrics.RequestLabel.allCases.map(\.text)
        XCTAssertEqual(Set(texts).count, texts.count)
    }
}

/// The methods as the metrics label them.
private enum HTTPMethodName: String {
    case get = "GET", head = "HEAD", post = "POST", put = "PUT", delete = "DELETE", options = "OPTIONS", other

    var method: HTTPMethod {
        switch self {
        case .get: .get
        case .head: .head
        case .post: .post
        case .put: .put
        case .delete: .delete
        case .options: .options
        case .other: .other("BREW")
        }
    }
}
