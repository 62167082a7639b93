import SBCore

/// `switchboard_delivery_lag_seconds`: from the moment an instance accepted an event (its wall
/// clock, carried with the event on the bus) to the moment this instance queued it on a
/// subscriber's connection, written in the same loop turn.
///
/// Not a swift-prometheus histogram: fan-out queues one event to many subscribers at once, and
/// counting each of those as its own observation would take the registry's lock once per
/// delivery. Here each loop adds one weighted observation per event (the deliveries it made) to
/// its own counters, behind its own lock that only `/metrics` and the stats sampler also take.
final class DeliveryLag: Sendable {
    /// Which way the event reached the subscriber: straight from the bus, or read from history
    /// (resume, gap fill, refill after a bus loss). A closed label set.
    enum Path: Int, CaseIterable, Sendable {
        case live, replay

        var label: String {
            switch self {
            case .live: "live"
            case .replay: "replay"
            }
        }
    }

    /// Upper bounds of the buckets, in microseconds; one more bucket (+Inf) takes the rest.
    /// Accept times are whole milliseconds, so nothing finer than 1 ms can be told apart.
    static let bucketMicros: [Int64] = [1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000,
                                        1_000_000, 2_500_000, 5_000_000, 10_000_000, 30_000_000, 60_000_000, 300_000_000]

    /// Counts per path and bucket (not cumulative; the last is +Inf), and the sum of lags.
    struct Counts: Sendable, Equatable {
        var buckets = [[Int]](repeating: [Int](repeating: 0, count: DeliveryLag.bucketMicros.count + 1),
                              count: Path.allCases.count)
        var sumMicros = [Int64](repeating: 0, count: Path.allCases.count)

        func count(_ path: Path) -> Int { buckets[path.rawValue].reduce(0, +) }

        /// `count` deliveries `lagMicros` late; a negative lag (the accepting host's clock
        /// ahead of this one's) counts as 0.
        mutating func record(_ path: Path, lagMicros: Int64, count: Int) {
            let lag = max(lagMicros, 0)
            buckets[path.rawValue][DeliveryLag.bucket(ofMicros: lag)] += count
            sumMicros[path.rawValue] += lag * Int64(count)
        }

        mutating func add(_ other: Counts) {
            for path in 0..<buckets.count {
                for bucket in 0..<buckets[path].count { buckets[path][bucket] += other.buckets[path][bucket] }
                sumMicros[path] += other.sumMicros[path]
            }
        }

        /// What was counted since `earlier` (a snapshot of the same counters).
        func subtracting(_ earlier: Counts) -> Counts {
            var result = self
            for path in 0..<buckets.count {
                for bucket in 0..<buckets[path].count { result.buckets[path][bucket] -= earlier.buckets[path][bucket] }
                result.sumMicros[path] -= earlier.sumMicros[path]
            }
            return result
        }

        /// The `q` quantile in seconds, interpolated within its bucket as Prometheus'
        /// `histogram_quantile` does; nil with nothing counted. In the +Inf bucket it is the
        /// last finite bound (the figure is then "at least").
        func quantile(_ q: Double, _ path: Path) -> Double? {
            let counts = buckets[path.rawValue]
            let total = counts.reduce(0, +)
            guard total > 0 else { return nil }
            let rank = q * Double(total)
            var below = 0
            for (index, count) in counts.enumerated() {
                guard count > 0, Double(below + count) >= rank else {
                    below += count
                    continue
                }
                guard index < DeliveryLag.bucketMicros.count else { return Double(DeliveryLag.bucketMicros.last!) / 1e6 }
                let lower = index == 0 ? 0 : Double(DeliveryLag.bucketMicros[index - 1])
                let upper = Double(DeliveryLag.bucketMicros[index])
                return (lower + (upper - lower) * (rank - Double(below)) / Double(count)) / 1e6
            }
            return Double(DeliveryLag.bucketMicros.last!) / 1e6
        }
    }

    private let perLoop: [Locked<Counts>]

    init(loops: Int) {
        perLoop = (0..<max(loops, 1)).map { _ in Locked(Counts()) }
    }

    static func bucket(ofMicros lag: Int64) -> Int {
        var index = 0
        while index < bucketMicros.count, lag > bucketMicros[index] { index += 1 }
        return index
    }

    /// `count` deliveries of one event made on `loop`, `lagMicros` after it was accepted.
    func observe(loop: Int, _ path: Path, lagMicros: Int64, count: Int) {
        guard count > 0 else { return }
        perLoop[loop].withLock { $0.record(path, lagMicros: lagMicros, count: count) }
    }

    /// One delivery each (a replay page), under one lock.
    func observe(loop: Int, _ path: Path, lagsMicros: [Int64]) {
        guard !lagsMicros.isEmpty else { return }
        perLoop[loop].withLock { counts in
            for lagMicros in lagsMicros { counts.record(path, lagMicros: lagMicros, count: 1) }
        }
    }

    /// Every loop's counts added up (totals since start).
    func snapshot() -> Counts {
        var total = Counts()
        for counts in perLoop { total.add(counts.withLock { $0 }) }
        return total
    }

    static let help = "Seconds from an event's acceptance (by any instance, on that instance's clock) to this instance queueing it on a subscriber's connection, one count per delivery. kind=live: from the bus; kind=replay: read from history (resume, gap fill, refill), timed from the event's own timestamp because the acceptance time is not stored."

    /// The Prometheus text exposition of the histogram.
    static func render(_ counts: Counts, into out: inout [UInt8]) {
        out.append(contentsOf: "# HELP switchboard_delivery_lag_seconds \(help)\n# TYPE switchboard_delivery_lag_seconds histogram\n".utf8)
        for path in Path.allCases {
            HistogramText.appendSeries("switchboard_delivery_lag_seconds", label: "kind=\"\(path.label)\"",
                                       counts: counts.buckets[path.rawValue], boundLabels: bucketMicros.map { formatSeconds(micros: $0) },
                                       sum: formatSeconds(micros: counts.sumMicros[path.rawValue]), into: &out)
        }
    }

    /// Microseconds as decimal seconds ("0.0025", "30").
    static func formatSeconds(micros: Int64) -> String {
        HistogramText.decimalSeconds(micros, fractionDigits: 6)
    }
}
