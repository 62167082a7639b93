/// A Pub/Sub push as Redis sends it to a subscribed connection in RESP2: an array whose first
/// element names the kind. Confirmations of (UN)SUBSCRIBE come this way too, one per channel,
/// so they answer no command one for one; and Redis sends `sunsubscribe` unasked when a
/// shard channel's slot moves (Redis Cluster).
public struct RedisPush: Equatable, Sendable {
    public enum Kind: String, CaseIterable, Sendable {
        case message, pmessage, smessage
        case subscribe, unsubscribe, psubscribe, punsubscribe, ssubscribe, sunsubscribe
    }

    public var kind: Kind
    /// The channel (for `pmessage`, the channel that matched; nil for an `unsubscribe` sent
    /// when nothing was subscribed).
    public var channel: [UInt8]?
    /// A message's payload; nil for confirmations.
    public var payload: [UInt8]?

    public init(kind: Kind, channel: [UInt8]?, payload: [UInt8]?) {
        self.kind = kind
        self.channel = channel
        self.payload = payload
    }

    /// The push a reply is, or nil: `[kind, channel, payload-or-count]`, or for `pmessage`
    /// `[kind, pattern, channel, payload]`.
    public init?(_ reply: RedisReply) {
        guard case .array(let parts) = reply, parts.count >= 3, case .string(let name) = parts[0],
              let kind = Kind(rawValue: String(decoding: name, as: UTF8.self)) else { return nil }
        self.kind = kind
        switch kind {
        case .message, .smessage:
            guard parts.count == 3, case .string(let channel) = parts[1], case .string(let payload) = parts[2] else { return nil }
            self.channel = channel
            self.payload = payload
        case .pmessage:
            guard parts.count == 4, case .string(let channel) = parts[2], case .string(let payload) = parts[3] else { return nil }
            self.channel = channel
            self.payload = payload
        case .subscribe, .unsubscribe, .psubscribe, .punsubscribe, .ssubscribe, .sunsubscribe:
            guard parts.count == 3, case .integer = parts[2] else { return nil }
            switch parts[1] {
            case .string(let channel): self.channel = channel
            case .null: self.channel = nil
            default: return nil
            }
            self.payload = nil
        }
    }

    public var channelName: String? { channel.map { String(decoding: $0, as: UTF8.self) } }
}
