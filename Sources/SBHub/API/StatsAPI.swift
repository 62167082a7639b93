import Foundation
import SBCore
import Synchronization
import SBHTTP
import SBServer
import SBStore

/// `GET /api/stats`: the console's overview. This instance (as it announces itself), its
/// totals, rates sampled every `HubStats.intervalSeconds` over the last minutes, and the
/// instances the registry knows of (with Redis; memory: this one).
enum StatsAPI {
    static func stats(_ hub: Hub, store: any Store, _ done: @escaping (HTTPResponse) -> Void) {
        let stats = hub.stats
        var body = (try? JSONSerialization.jsonObject(with: Data(hub.instanceSummary()))) as? [String: Any] ?? [:]
        body["totals"] = ["eventsAccepted": stats.eventsAccepted.load(ordering: .relaxed),
                          "deliveries": stats.deliveries.load(ordering: .relaxed),
                          "slowClientsCutOff": hub.server?.cutOffCount ?? 0]
        body["history"] = [
            "intervalSeconds": HubStats.intervalSeconds,
            "samples": stats.samples.map { sample in
                ["at": ISO8601.format(milliseconds: sample.atMillis),
                 "eventsPerSecond": (sample.eventsPerSecond * 100).rounded() / 100,
                 "deliveriesPerSecond": (sample.deliveriesPerSecond * 100).rounded() / 100,
                 "connections": sample.connections, "subscriptions": sample.subscriptions] as [String: Any]
            },
        ] as [String: Any]
        let lag = stats.recentDeliveryLag
        body["deliveryLag"] = [
            "windowSeconds": lag.seconds,
            "live": lagFigures(lag.counts, .live),
            "replay": lagFigures(lag.counts, .replay),
        ] as [String: Any]
        let known = stats.instances.withLock { $0 }
        var instances = known.compactMap { (try? JSONSerialization.jsonObject(with: Data($0))) as? [String: Any] }
        if !instances.contains(where: { $0["instanceId"] as? String == hub.configuration.instanceId }) {
            instances.insert(body.filter { ["instanceId", "startedAt", "uptimeSeconds", "storage", "redis", "draining", "connections",
                                            "websockets", "streams", "subscriptions", "lastSeenAt"].contains($0.key) }, at: 0)
        }
        body["instances"] = instances
        done(Reply.json(200, body))
    }

    /// Deliveries and their p50 / p99 in seconds (null with none in the window).
    private static func lagFigures(_ counts: DeliveryLag.Counts, _ path: DeliveryLag.Path) -> [String: Any] {
        func rounded(_ value: Double?) -> Any { value.map { ($0 * 1e6).rounded() / 1e6 } ?? NSNull() }
        return ["deliveries": counts.count(path), "p50": rounded(counts.quantile(0.5, path)), "p99": rounded(counts.quantile(0.99, path))]
    }
}
