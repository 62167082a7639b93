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
        var lastAccepted = 0
        var lastDeliveries = 0
        var lastAt: UInt64 = 0
    }

    private let history = Locked(History())
    /// The registry's answer to this instance's last heartbeat (JSON objects).
    let instances = Locked<[[UInt8]]>([])

    /// Takes one sample: rates over the time since the previous one.
    func sample(connections: Int, now: UInt64 = MonotonicClock.now()) {
        let accepted = eventsAccepted.load(ordering: .relaxed)
        let delivered = deliveries.load(ordering: .relaxed)
        let subscriptions = subscriptions.load(ordering: .relaxed)
        let wall = WallClock.millisecondsSinceEpoch()
        history.withLock { h in
            defer { (h.lastAccepted, h.lastDeliveries, h.lastAt) = (accepted, delivered, now) }
            guard h.lastAt != 0, now > h.lastAt else { return }
            let seconds = Double(now - h.lastAt) / 1e9
            h.samples.append(Sample(atMillis: wall, eventsPerSecond: Double(accepted - h.lastAccepted) / seconds,
                                    deliveriesPerSecond: Double(delivered - h.lastDeliveries) / seconds,
                                    connections: connections, subscriptions: subscriptions))
            while h.samples.count > Self.capacity { h.samples.removeFirst() }
        }
    }

    var samples: [Sample] { history.withLock { Array($0.samples) } }
}
