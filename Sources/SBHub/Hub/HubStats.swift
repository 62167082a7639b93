import DequeModule
import SBCore
import Synchronization

/// The numbers behind `/api/stats` (the console's overview): running totals, a short history
/// of rates sampled every `interval`, and the instances last seen in the registry. Bounded: the
/// history keeps `capacity` samples, the registry at most `InstanceRegistry.maxListed`.
final class HubStats: Sendable {
    static let intervalSeconds = 2
    /// Five minutes of samples.
    static let capacity = 150
    /// An instance's heartbeat outlives a few missed samples, not more.
    static let instanceTTLSeconds = 10

    let eventsAccepted = Atomic<Int>(0)
    let deliveries = Atomic<Int>(0)
    let subscriptions = Atomic<Int>(0)

    struct Sample: Sendable {
        var atMillis: Int64
        var eventsPerSecond: Double
        var deliveriesPerSecond: Double
        var connections: Int
        var subscriptions: Int
    }

    private struct History: Sendable {
        var samples = Deque<Sample>()
        /// The delivery lag counters at each sample (totals since start; at most `capacity` + 1,
        /// starting from zero at start): the window's counts are the newest minus the oldest.
        var lagTotals: Deque<DeliveryLag.Counts> = [DeliveryLag.Counts()]
        var lastAccepted = 0
        var lastDeliveries = 0
        var lastAt: UInt64 = 0
    }

    private let history = Locked(History())
    /// The registry's answer to this instance's last heartbeat (JSON objects).
    let instances = Locked<[[UInt8]]>([])

    /// Takes one sample: rates over the time since the previous one.
    func sample(connections: Int, deliveryLag: DeliveryLag.Counts = DeliveryLag.Counts(), now: UInt64 = MonotonicClock.now()) {
        let accepted = eventsAccepted.load(ordering: .relaxed)
        let delivered = deliveries.load(ordering: .relaxed)
        let subscriptions = subscriptions.load(ordering: .relaxed)
        let wall = WallClock.millisecondsSinceEpoch()
        history.withLock { h in
            defer { (h.lastAccepted, h.lastDeliveries, h.lastAt) = (accepted, delivered, now) }
            h.lagTotals.append(deliveryLag)
            while h.lagTotals.count > Self.capacity + 1 { h.lagTotals.removeFirst() }
            guard h.lastAt != 0, now > h.lastAt else { return }
            let seconds = Double(now - h.lastAt) / 1e9
            h.samples.append(Sample(atMillis: wall, eventsPerSecond: Double(accepted - h.lastAccepted) / seconds,
                                    deliveriesPerSecond: Double(delivered - h.lastDeliveries) / seconds,
                                    connections: connections, subscriptions: subscriptions))
            while h.samples.count > Self.capacity { h.samples.removeFirst() }
        }
    }

    var samples: [Sample] { history.withLock { Array($0.samples) } }

    /// Delivery lag counted over the kept samples (up to `capacity` intervals: five minutes),
    /// and how many seconds that covers.
    var recentDeliveryLag: (counts: DeliveryLag.Counts, seconds: Int) {
        history.withLock { h in
            guard let newest = h.lagTotals.last, let oldest = h.lagTotals.first else { return (DeliveryLag.Counts(), 0) }
            return (newest.subtracting(oldest), (h.lagTotals.count - 1) * Self.intervalSeconds)
        }
    }
}
