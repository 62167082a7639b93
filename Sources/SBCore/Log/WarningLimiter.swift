/// Repeated warnings (accept failures, refused connections, cut-offs) are logged at most once
/// per interval per kind, with how many were suppressed meanwhile, so an overload never turns
/// into a log flood that costs more than the overload. A value with the clock passed in.
public struct WarningLimiter: Sendable {
    public enum Kind: Int, CaseIterable, Sendable {
        case acceptFailed
        case descriptorsExhausted
        case maxConnections
        case registerFailed
        case slowClientCutOff
        case malformedChannelMessage
        case tlsHandshakeFailed
        case authenticationFailed
        case memoryStoreEvicted
        case memoryStoreFull
    }

    public let interval: UInt64
    private var lastLogged: [UInt64?]
    private var suppressed: [Int]

    public init(interval: UInt64) {
        self.interval = interval
        lastLogged = Array(repeating: nil, count: Kind.allCases.count)
        suppressed = Array(repeating: 0, count: Kind.allCases.count)
    }

    /// nil: stay quiet. Otherwise log now, mentioning the count suppressed since the last line.
    public mutating func admit(_ kind: Kind, now: UInt64) -> Int? {
        let i = kind.rawValue
        // Shared limiters read the clock before their lock: an earlier `now` than the last
        // logged counts as within the interval, not as a wrapped-around difference.
        if let last = lastLogged[i], now < last || now - last < interval {
            suppressed[i] += 1
            return nil
        }
        lastLogged[i] = now
        defer { suppressed[i] = 0 }
        return suppressed[i]
    }
}
