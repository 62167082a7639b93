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
        let status = InstanceStatus(hub, server: hub.server)
        let now = WallClock.millisecondsSinceEpoch()
        var body: [UInt8] = [UInt8(ascii: "{")]
        body.reserveCapacity(16_384)
        status.appendSummaryMembers(to: &body, nowMillis: now)
        let totals: [String: Any] = ["eventsAccepted": stats.eventsAccepted.load(ordering: .relaxed),
                                     "deliveries": stats.deliveries.load(ordering: .relaxed),
                                     "slowClientsCutOff": hub.server?.cutOffCount ?? 0]
        append("totals", totals, to: &body)
        append("history", [
            "intervalSeconds": HubStats.intervalSeconds,
            "samples": stats.samples.map { sample in
                ["at": ISO8601.format(milliseconds: sample.atMillis),
                 "eventsPerSecond": (sample.eventsPerSecond * 100).rounded() / 100,
                 "deliveriesPerSecond": (sample.deliveriesPerSecond * 100).rounded() / 100,
                 "connections": sample.connections, "subscriptions": sample.subscriptions] as [String: Any]
            },
        ] as [String: Any], to: &body)
        let lag = stats.recentDeliveryLag
        append("deliveryLag", [
            "windowSeconds": lag.seconds,
            "live": lagFigures(lag.counts, .live),
            "replay": lagFigures(lag.counts, .replay),
        ] as [String: Any], to: &body)
        // The registry's entries as their instances wrote them (`InstanceStatus.summary`), each
        // checked to be a JSON object with an id; this one first when the registry lacks it.
        let entries = stats.instances.withLock { $0 }.compactMap { entry in instanceId(of: entry).map { (id: $0, json: entry) } }
        body.append(contentsOf: ",\"instances\":[".utf8)
        var first = true
        if !entries.contains(where: { $0.id == hub.configuration.instanceId }) {
            body.append(contentsOf: status.summary(nowMillis: now))
            first = false
        }
        for entry in entries {
            if !first { body.append(UInt8(ascii: ",")) }
            body.append(contentsOf: entry.json)
            first = false
        }
        body.append(contentsOf: "]}".utf8)
        done(Reply.raw(200, body))
    }

    private static func append(_ name: String, _ value: Any, to body: inout [UInt8]) {
        body.append(contentsOf: ",\"\(name)\":".utf8)
        body.append(contentsOf: JSONBody.encode(value))
    }

    private static let entryKeys = JSONKeyTable(["instanceId"])

    /// The `instanceId` of a registry entry; nil when it is not a JSON object with one.
    private static func instanceId(of entry: [UInt8]) -> String? {
        guard case .success(let document) = JSONScanner.scan(entry, keys: entryKeys, maxElements: 0),
              document.root.kind == .object else { return nil }
        return document.string(document.member(0, of: document.root))
    }

    /// Deliveries and their p50 / p99 in seconds (null with none in the window).
    private static func lagFigures(_ counts: DeliveryLag.Counts, _ path: DeliveryLag.Path) -> [String: Any] {
        func rounded(_ value: Double?) -> Any { value.map { ($0 * 1e6).rounded() / 1e6 } ?? NSNull() }
        return ["deliveries": counts.count(path), "p50": rounded(counts.quantile(0.5, path)), "p99": rounded(counts.quantile(0.99, path))]
    }
}
