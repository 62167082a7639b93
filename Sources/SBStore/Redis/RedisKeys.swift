/// Every Redis key and channel name the store uses, in one place (prefix P, default `afw:`);
/// the Lua scripts get every name from here (in KEYS, or a name prefix in ARGV).
///
/// Two layouts:
/// * `standalone` (a Redis, Sentinel, or a shard list): the original backend's names, so both
///   can share one Redis during a migration: `P events:{id}`, `P seq:{id}`, …
/// * `cluster` (Redis Cluster): every key and the shard channel of one session carry the
///   session id as a hash tag, `P{id}:events`, `P{id}:seq`, …, so they share a slot and each
///   per-session script runs on one node. A chain record lives in its session's slot too, with
///   a pointer `P chainsession:<chainId>` → session id for reads by chain id. Command records
///   stay keyed by command id alone (acks know only that). The instance registry shares the
///   tag `{instances}`; the sessions index is one key of its own.
struct RedisKeys: Sendable {
    enum Layout: Sendable { case standalone, cluster }

    let prefix: String
    let layout: Layout

    init(prefix: String, layout: Layout = .standalone) {
        self.prefix = prefix
        self.layout = layout
    }

    private func sessionKey(_ name: String, _ sessionId: String) -> String {
        switch layout {
        case .standalone: prefix + name + ":" + sessionId
        case .cluster: prefix + "{" + sessionId + "}:" + name
        }
    }

    /// Pub/Sub channel of events and pushes: `P events`. On Cluster (a classic channel, which
    /// Redis broadcasts to every node) only with REDIS_CLUSTER_CLASSIC_CHANNEL.
    var channel: String { prefix + "events" }
    /// REDIS_CHANNEL_MODE=session: a session's own channel, `P channel:{id}`, carrying the same
    /// messages as `P events` for that session. On Cluster: the session's shard channel
    /// `P{id}:channel` (SSUBSCRIBE / SPUBLISH), in its keys' slot.
    func sessionChannel(_ sessionId: String) -> String { sessionChannelAffixes.prefix + sessionId + sessionChannelAffixes.suffix }
    /// What the scripts put around a session id to name its channel.
    var sessionChannelAffixes: (prefix: String, suffix: String) {
        switch layout {
        case .standalone: (prefix + "channel:", "")
        case .cluster: (prefix + "{", "}:channel")
        }
    }
    /// The session id a session channel names, or nil.
    func sessionId(ofChannel channel: String) -> String? {
        let (head, tail) = sessionChannelAffixes
        guard channel.count > head.count + tail.count, channel.hasPrefix(head), channel.hasSuffix(tail) else { return nil }
        return String(channel.dropFirst(head.count).dropLast(tail.count))
    }
    /// The channel every subscriber holds for its heartbeat and resubscribe detection; nothing
    /// is published on it.
    var heartbeatChannel: String { prefix + "heartbeat" }
    /// ZSET of session ids scored by start time (ms).
    var sessionIndex: String { prefix + "sessions:index" }
    func session(_ id: String) -> String { sessionKey("sessions", id) }
    func events(_ sessionId: String) -> String { sessionKey("events", sessionId) }
    func seq(_ sessionId: String) -> String { sessionKey("seq", sessionId) }
    /// The instance registry (console overview): `instances` ZSET, one `instance:{id}` each.
    var instances: String {
        switch layout {
        case .standalone: prefix + "instances"
        case .cluster: prefix + "{instances}"
        }
    }
    func instance(_ id: String) -> String {
        switch layout {
        case .standalone: prefix + "instance:" + id
        case .cluster: prefix + "{instances}:instance:" + id
        }
    }
    /// Event timestamps (ms), parallel to `events`, for `since` and `/recent` reads.
    func times(_ sessionId: String) -> String { sessionKey("times", sessionId) }
    /// The stream's epoch: a new one whenever its seq starts again.
    func epoch(_ sessionId: String) -> String { sessionKey("epoch", sessionId) }
    /// An idempotency key (Idempotency-Key header or client eventId) → "seq:eventId".
    func idempotency(_ sessionId: String, _ key: String) -> String { sessionKey("idem", sessionId) + ":" + key }
    func chains(_ sessionId: String) -> String { sessionKey("chains", sessionId) }
    /// A chain's record: `P chain:<id>`; on Cluster in its session's slot.
    func chain(_ chainId: String, sessionId: String) -> String {
        switch layout {
        case .standalone: prefix + "chain:" + chainId
        case .cluster: sessionKey("chain", sessionId) + ":" + chainId
        }
    }
    /// Presence: ZSET client id → lease expiry (Redis `TIME`, ms), and HASH client id → entry
    /// JSON (`PresenceEntry`), both in the session's slot on Cluster.
    func presence(_ sessionId: String) -> String { sessionKey("presence", sessionId) }
    func presenceEntries(_ sessionId: String) -> String { sessionKey("presenceentries", sessionId) }
    /// Cluster: chain id → its session id, for `GET /api/chains/:id`.
    func chainSession(_ chainId: String) -> String { prefix + "chainsession:" + chainId }
    func queue(_ kind: QueueKind, _ sessionId: String) -> String {
        sessionKey(kind == .commands ? "commands" : "input", sessionId)
    }
    /// A command seen by enqueue, then its ack (QUEUE_TTL): lets ack answer false for unknown ids.
    func command(_ commandId: String) -> String { prefix + "command:" + commandId }
}
