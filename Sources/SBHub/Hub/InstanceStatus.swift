import SBCore
import SBServer
import SBStore
import Synchronization

/// This instance in a few numbers, read once: the one writer of the members that `/health`,
/// the registry heartbeat (`instances`, REDIS_INTEGRATION.md) and `/api/stats` share. Written
/// from prebuilt byte fragments: `/health` is the load balancer's hot path.
struct InstanceStatus {
    let hub: Hub
    let server: Server?
    /// Everything `appendMembers` writes, read once (so `/health` can tell whether its last
    /// answer still holds: `LoopRouter`).
    let members: Members

    struct Members: Equatable {
        var uptimeSeconds: UInt64
        var storage: StorageKind
        var storeAvailable: Bool
        var busUp: Bool
        var connections: Int
        var webSockets: Int
        var draining: Bool
    }

    var uptimeSeconds: UInt64 { members.uptimeSeconds }

    /// `server`: the hub's, passed by a loop that keeps it (no atomic load per `/health`).
    init(_ hub: Hub, server: Server?) {
        let store = hub.loopHubs[0].store
        self.hub = hub
        self.server = server
        members = Members(uptimeSeconds: (MonotonicClock.now() - hub.startedAt) / 1_000_000_000, storage: store.kind,
                          storeAvailable: store.isAvailable, busUp: hub.busIsUp, connections: server?.connectionCount ?? 0,
                          webSockets: server?.webSocketCount ?? 0, draining: hub.isDraining)
    }

    /// Storage reachable and (with Redis) the events channel subscribed.
    var isHealthy: Bool { members.storeAvailable && members.busUp }

    /// `"instanceId":…,"uptimeSeconds":…,"storage":…,"redis":{"connected":…,"subscribed":…},
    /// "connections":…,"websockets":…,"draining":…`, in this order (no braces).
    func appendMembers(to out: inout [UInt8]) {
        let redis = members.storage == .redis
        out.append(contentsOf: Fragment.instanceId)
        out.append(contentsOf: hub.instanceIdJSON)
        out.append(contentsOf: Fragment.uptime)
        JSONNumber.append(members.uptimeSeconds, to: &out)
        out.append(contentsOf: redis ? Fragment.storageRedis : Fragment.storageMemory)
        JSONNumber.append(redis && members.storeAvailable, to: &out)
        out.append(contentsOf: Fragment.subscribed)
        JSONNumber.append(redis && members.busUp, to: &out)
        out.append(contentsOf: Fragment.connections)
        JSONNumber.append(members.connections, to: &out)
        out.append(contentsOf: Fragment.websockets)
        JSONNumber.append(members.webSockets, to: &out)
        out.append(contentsOf: Fragment.draining)
        JSONNumber.append(members.draining, to: &out)
    }

    /// The registry entry and the head of `/api/stats`: the shared members, then when it
    /// started, its streams and subscriptions, and when it was seen (`now`).
    func summary(nowMillis: Int64 = WallClock.millisecondsSinceEpoch()) -> [UInt8] {
        var out: [UInt8] = [UInt8(ascii: "{")]
        out.reserveCapacity(384)
        appendSummaryMembers(to: &out, nowMillis: nowMillis)
        out.append(UInt8(ascii: "}"))
        return out
    }

    func appendSummaryMembers(to out: inout [UInt8], nowMillis: Int64) {
        appendMembers(to: &out)
        out.append(contentsOf: Fragment.startedAt)
        JSONString.append(ISO8601.format(milliseconds: nowMillis - Int64(uptimeSeconds) * 1000), to: &out)
        out.append(contentsOf: Fragment.streams)
        JSONNumber.append(server?.streamCount ?? 0, to: &out)
        out.append(contentsOf: Fragment.subscriptions)
        JSONNumber.append(hub.stats.subscriptions.load(ordering: .relaxed), to: &out)
        out.append(contentsOf: Fragment.lastSeenAt)
        JSONString.append(ISO8601.format(milliseconds: nowMillis), to: &out)
    }

    private enum Fragment {
        static let instanceId = Array("\"instanceId\":".utf8)
        static let uptime = Array(",\"uptimeSeconds\":".utf8)
        static let storageMemory = Array(",\"storage\":\"memory\",\"redis\":{\"connected\":".utf8)
        static let storageRedis = Array(",\"storage\":\"redis\",\"redis\":{\"connected\":".utf8)
        static let subscribed = Array(",\"subscribed\":".utf8)
        static let connections = Array("},\"connections\":".utf8)
        static let websockets = Array(",\"websockets\":".utf8)
        static let draining = Array(",\"draining\":".utf8)
        static let startedAt = Array(",\"startedAt\":".utf8)
        static let streams = Array(",\"streams\":".utf8)
        static let subscriptions = Array(",\"subscriptions\":".utf8)
        static let lastSeenAt = Array(",\"lastSeenAt\":".utf8)
    }
}
