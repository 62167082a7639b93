import SBCore

/// `switchboard_http_request_duration_seconds`: how long each request took, by route. Not a
/// swift-prometheus histogram: that one takes the registry histogram's lock and walks its
/// buckets through closures on every request. Here each loop counts into its own `Counts`
/// (found by route index), behind its own lock that only `/metrics` also takes. The series,
/// bounds and `le` labels are the ones the registry wrote, so dashboards read them unchanged.
final class RequestDurations: Sendable {
    /// Upper bounds in nanoseconds (100 µs to 2.5 s); one more bucket (+Inf) takes the rest.
    static let boundsNanos: [Int64] = [100_000, 250_000, 500_000, 1_000_000, 2_500_000, 5_000_000, 10_000_000, 25_000_000,
                                       50_000_000, 100_000_000, 250_000_000, 500_000_000, 1_000_000_000, 2_500_000_000]
    /// The bucket of a duration: `boundsNanos` as literals, so a request reads no lazy global
    /// array (`HubMetricsTests` checks them against each other).
    static func bucket(ofNanos value: Int64) -> Int {
        switch value {
        case ...100_000: 0
        case ...250_000: 1
        case ...500_000: 2
        case ...1_000_000: 3
        case ...2_500_000: 4
        case ...5_000_000: 5
        case ...10_000_000: 6
        case ...25_000_000: 7
        case ...50_000_000: 8
        case ...100_000_000: 9
        case ...250_000_000: 10
        case ...500_000_000: 11
        case ...1_000_000_000: 12
        case ...2_500_000_000: 13
        default: 14
        }
    }

    /// The bounds as the registry labelled them (Double seconds: "1.0", not "1").
    static let boundLabels = ["0.0001", "0.00025", "0.0005", "0.001", "0.0025", "0.005", "0.01", "0.025",
                              "0.05", "0.1", "0.25", "0.5", "1.0", "2.5"]
    static let help = "HTTP request handling time by route."

    /// Counts per route and bucket (not cumulative; the last is +Inf), and each route's sum.
    struct Counts: Sendable, Equatable {
        static let width = RequestDurations.boundsNanos.count + 1
        var buckets = [Int](repeating: 0, count: HubMetrics.RequestLabel.allCases.count * width)
        var sumNanos = [Int64](repeating: 0, count: HubMetrics.RequestLabel.allCases.count)

        mutating func record(route: Int, nanos: Int64) {
            let value = max(nanos, 0)
            buckets[route * Self.width + RequestDurations.bucket(ofNanos: value)] += 1
            sumNanos[route] += value
        }

        mutating func add(_ other: Counts) {
            for i in buckets.indices { buckets[i] += other.buckets[i] }
            for i in sumNanos.indices { sumNanos[i] += other.sumNanos[i] }
        }

        func count(route: Int) -> Int {
            buckets[(route * Self.width)..<((route + 1) * Self.width)].reduce(0, +)
        }
    }

    /// One loop's counts (`HubMetrics.RequestInstruments` holds its loop's).
    final class Slot: Sendable {
        let counts = Locked(Counts())
    }

    private let slots = Locked<[Slot]>([])

    /// A slot for one more loop, counted in every render.
    func makeSlot() -> Slot {
        let slot = Slot()
        slots.withLock { $0.append(slot) }
        return slot
    }

    /// Every loop's counts added up (totals since start).
    func snapshot() -> Counts {
        var total = Counts()
        for slot in slots.withLock({ $0 }) { total.add(slot.counts.withLock { $0 }) }
        return total
    }

    /// The Prometheus text exposition: the routes that have seen a request, as the registry
    /// showed only the series it had been asked for.
    static func render(_ counts: Counts, into out: inout [UInt8]) {
        let routes = HubMetrics.RequestLabel.allCases.filter { counts.count(route: $0.rawValue) > 0 }
        guard !routes.isEmpty else { return }
        out.append(contentsOf: "# HELP switchboard_http_request_duration_seconds \(help)\n".utf8)
        out.append(contentsOf: "# TYPE switchboard_http_request_duration_seconds histogram\n".utf8)
        for route in routes {
            let start = route.rawValue * Counts.width
            HistogramText.appendSeries("switchboard_http_request_duration_seconds", label: "route=\"\(route.text)\"",
                                       counts: counts.buckets[start..<(start + Counts.width)], boundLabels: boundLabels,
                                       sum: HistogramText.decimalSeconds(counts.sumNanos[route.rawValue], fractionDigits: 9), into: &out)
        }
    }
}
