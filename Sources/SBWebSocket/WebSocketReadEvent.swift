public enum WebSocketReadEvent: Equatable, Sendable {
    case text([UInt8])
    case binary([UInt8])
    case ping([UInt8])
    case pong([UInt8])
    /// A valid close frame (code nil when its payload was empty).
    case close(code: UInt16?, reason: String)
    /// A protocol violation: send a close frame with `code`, then close the connection.
    case failure(code: UInt16, reason: String)
}
