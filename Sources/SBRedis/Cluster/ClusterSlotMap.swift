/// Which master serves each of the 16384 slots, as Redis Cluster last told us (`CLUSTER
/// SHARDS`, or `CLUSTER SLOTS` on servers without it), corrected by `MOVED` replies in
/// between. A value: parsing and lookups are tested without sockets.
public struct ClusterSlotMap: Sendable, Equatable {
    /// The masters, each once; `owners` holds indices into it.
    public private(set) var masters: [RedisAddress] = []
    /// Per slot: index into `masters`, or `unassigned`.
    private var owners: [UInt16]
    static let unassigned = UInt16.max

    public init() {
        owners = Array(repeating: Self.unassigned, count: ClusterSlot.count)
    }

    public func owner(ofSlot slot: Int) -> RedisAddress? {
        let index = owners[slot]
        return index == Self.unassigned ? nil : masters[Int(index)]
    }

    /// Every slot has a master.
    public var isComplete: Bool { !owners.contains(Self.unassigned) }

    public var isEmpty: Bool { masters.isEmpty }

    /// A `MOVED` reply: the slot is served by `address` now.
    public mutating func assign(slot: Int, to address: RedisAddress) {
        guard slot >= 0, slot < ClusterSlot.count else { return }
        owners[slot] = index(of: address)
    }

    public mutating func assign(slots: ClosedRange<Int>, to address: RedisAddress) {
        let clamped = max(slots.lowerBound, 0)...min(slots.upperBound, ClusterSlot.count - 1)
        guard !clamped.isEmpty else { return }
        let index = index(of: address)
        for slot in clamped { owners[slot] = index }
    }

    private mutating func index(of address: RedisAddress) -> UInt16 {
        if let known = masters.firstIndex(of: address) { return UInt16(known) }
        masters.append(address)
        return UInt16(masters.count - 1)
    }

    /// `CLUSTER SHARDS` (Redis 7.0+): per shard a flat map with `slots` (start, end, …) and
    /// `nodes` (flat maps: `endpoint`, `ip`, `port`, `tls-port`, `role`, `health`). The master
    /// whose health is `online` serves the shard's slots; `tls` picks its `tls-port`. Nil when
    /// the reply has another shape.
    /// An empty host means the node that answered (a node that never met another does not know
    /// its own IP): `askedHost`.
    public static func parse(shards reply: RedisReply, tls: Bool, askedHost: String = "127.0.0.1") -> ClusterSlotMap? {
        guard case .array(let shards) = reply else { return nil }
        var map = ClusterSlotMap()
        for shard in shards {
            guard let fields = flatMap(shard), case .array(let slots)? = fields["slots"],
                  case .array(let nodes)? = fields["nodes"] else { return nil }
            let master = nodes.lazy.compactMap(flatMap).first { node in
                node["role"]?.text == "master" && (node["health"]?.text ?? "online") == "online"
            }
            guard let master else { continue }
            // `endpoint` is what MOVED and ASK name (cluster-preferred-endpoint-type: an IP, a
            // hostname, or "?" when unknown), so one node has one address in the map.
            let endpoint = master["endpoint"]?.text.flatMap { $0.isEmpty || $0 == "?" ? nil : $0 }
            let host = endpoint ?? master["ip"]?.text.map { $0.isEmpty ? askedHost : $0 }
            let port = (tls ? master["tls-port"]?.integer : nil) ?? master["port"]?.integer
            guard let host, let port else { return nil }
            let address = RedisAddress(host: host, port: Int(port))
            var index = 0
            while index + 1 < slots.count {
                guard let start = slots[index].integer, let end = slots[index + 1].integer, start <= end else { return nil }
                map.assign(slots: Int(start)...Int(end), to: address)
                index += 2
            }
        }
        return map
    }

    /// `CLUSTER SLOTS`: per range `[start, end, [ip, port, id, …], replicas…]`.
    public static func parse(slots reply: RedisReply, askedHost: String = "127.0.0.1") -> ClusterSlotMap? {
        guard case .array(let ranges) = reply else { return nil }
        var map = ClusterSlotMap()
        for range in ranges {
            guard case .array(let parts) = range, parts.count >= 3, let start = parts[0].integer, let end = parts[1].integer,
                  start <= end, case .array(let master) = parts[2], master.count >= 2,
                  let host = master[0].text, let port = master[1].integer else { return nil }
            map.assign(slots: Int(start)...Int(end), to: RedisAddress(host: host.isEmpty ? askedHost : host, port: Int(port)))
        }
        return map
    }

    /// A RESP2 map: an array of alternating names and values.
    private static func flatMap(_ reply: RedisReply) -> [String: RedisReply]? {
        guard case .array(let items) = reply, items.count % 2 == 0 else { return nil }
        var out: [String: RedisReply] = [:]
        for pair in stride(from: 0, to: items.count, by: 2) {
            guard let name = items[pair].text else { return nil }
            out[name] = items[pair + 1]
        }
        return out
    }
}
