/// Every Redis key and channel name the store uses, in one place (prefix P, default `afw:`).
/// The names are the original backend's, so both can share one Redis during a migration.
struct RedisKeys: Sendable {
    let prefix: String

    /// Pub/Sub channel of events and pushes: `P events`.
    var channel: String { prefix + "events" }
    /// REDIS_CHANNEL_MODE=session: a session's own channel, `P channel:{id}`, carrying the same
    /// messages as `P events` for that session.
    var sessionChannelPrefix: String { prefix + "channel:" }
    func sessionChannel(_ sessionId: String) -> String { sessionChannelPrefix + sessionId }
    /// REDIS_CHANNEL_MODE=session: the channel every subscriber holds for its heartbeat and
    /// resubscribe detection; nothing is published on it.
    var heartbeatChannel: String { prefix + "heartbeat" }
    /// ZSET of session ids scored by start time (ms).
    var sessionIndex: String { prefix + "sessions:index" }
    func session(_ id: String) -> String { prefix + "sessions:" + id }
    func events(_ sessionId: String) -> String { prefix + "events:" + sessionId }
    func seq(_ sessionId: String) -> String { prefix + "seq:" + sessionId }
    /// The instance registry (console overview): `instances` ZSET, one `instance:{id}` each.
    var instances: String { prefix + "instances" }
    func instance(_ id: String) -> String { prefix + "instance:" + id }
    /// Event timestamps (ms), parallel to `events`, for `since` and `/recent` reads.
    func times(_ sessionId: String) -> String { prefix + "times:" + sessionId }
    /// The stream's epoch: a new one whenever its seq starts again.
    func epoch(_ sessionId: String) -> String { prefix + "epoch:" + sessionId }
    /// An idempotency key (Idempotency-Key header or client eventId) → "seq:eventId".
    func idempotency(_ sessionId: String, _ key: String) -> String { prefix + "idem:" + sessionId + ":" + key }
    func chains(_ sessionId: String) -> String { prefix + "chains:" + sessionId }
    func chain(_ chainId: String) -> String { prefix + "chain:" + chainId }
    func queue(_ kind: QueueKind, _ sessionId: String) -> String {
        prefix + (kind == .commands ? "commands:" : "input:") + sessionId
    }
    /// A command seen by enqueue, then its ack (QUEUE_TTL): lets ack answer false for unknown ids.
    func command(_ commandId: String) -> String { prefix + "command:" + commandId }
}
