import CHiredis

/// A Redis reply as a Swift value, copied out of the `redisReply` hiredis's reader built, which is
/// freed right after (`RedisReplyReader`, `RedisBlockingConnection`).
///
/// `null` is the RESP nil (a missing key, an empty pop); it is not spelled `nil` so that it can
/// never be confused with an absent `RedisReply?`.
public enum RedisReply: Equatable, Sendable {
    case string([UInt8])
    case status(String)
    /// An error reply (`-ERR …`, `-NOSCRIPT …`): the command reached Redis and was refused.
    case error(String)
    case integer(Int64)
    case null
    case array([RedisReply])

    /// Deep copy of a hiredis reply object, before it is freed.
    init(copying reply: UnsafePointer<redisReply>) {
        let r = reply.pointee
        switch r.type {
        case REDIS_REPLY_STRING:
            self = .string(Self.bytes(r.str, r.len))
        case REDIS_REPLY_STATUS:
            self = .status(String(decoding: Self.bytes(r.str, r.len), as: UTF8.self))
        case REDIS_REPLY_ERROR:
            self = .error(String(decoding: Self.bytes(r.str, r.len), as: UTF8.self))
        case REDIS_REPLY_INTEGER:
            self = .integer(r.integer)
        case REDIS_REPLY_ARRAY:
            var items: [RedisReply] = []
            items.reserveCapacity(r.elements)
            for i in 0..<r.elements {
                items.append(r.element[i].map { RedisReply(copying: $0) } ?? .null)
            }
            self = .array(items)
        default:  // REDIS_REPLY_NIL
            self = .null
        }
    }

    private static func bytes(_ pointer: UnsafeMutablePointer<CChar>?, _ length: Int) -> [UInt8] {
        guard let pointer, length > 0 else { return [] }
        return Array(UnsafeRawBufferPointer(start: pointer, count: length))
    }

    public var bytes: [UInt8]? {
        if case .string(let b) = self { return b }
        return nil
    }

    public var integer: Int64? {
        if case .integer(let n) = self { return n }
        return nil
    }

    public var array: [RedisReply]? {
        if case .array(let a) = self { return a }
        return nil
    }

    public var isError: Bool {
        if case .error = self { return true }
        return false
    }

    /// A bulk or status string as text.
    public var text: String? {
        switch self {
        case .string(let bytes): String(decoding: bytes, as: UTF8.self)
        case .status(let text): text
        default: nil
        }
    }
}

/// Why a command produced no reply. Each is reported exactly once per command.
public enum RedisError: Error, Equatable, Sendable {
    /// Not connected (connecting, reconnecting or closed): the command was not sent.
    case unavailable
    /// The connection dropped before the reply arrived: the command may or may not have run.
    case disconnected
    /// No reply within the command timeout. The connection was dropped (later replies could no
    /// longer be matched to commands) and every other pending command failed the same way.
    case timeout
}
