public enum WebSocketOpcode: UInt8, Sendable {
    case continuation = 0
    case text = 1
    case binary = 2
    case close = 8
    case ping = 9
    case pong = 10

    var isControl: Bool { rawValue & 0x8 != 0 }
}

public enum WebSocketCloseCode {
    /// Codes a peer may send in a close frame (RFC 6455 §7.4; 1004-1006 and 1015 are reserved
    /// for local use, 1016-2999 unassigned).
    public static func isValidReceived(_ code: UInt16) -> Bool {
        switch code {
        case 1000...1003, 1007...1014, 3000...4999: true
        default: false
        }
    }
}
