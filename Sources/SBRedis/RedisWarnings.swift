import SBCore

/// Rate limit of the "why Redis cannot be reached" warnings: a message (keyed by endpoint and
/// cause) is logged at most once per `interval`, however many connections of the process hit
/// it on their reconnects. Bounded: at most `capacity` keys are remembered. Any thread.
final class RedisWarnings: Sendable {
    static let shared = RedisWarnings()

    // `Locked` (pthread), not `Mutex`: ThreadSanitizer cannot see Mutex's futex on Linux.
    private let lastLogged = Locked<[String: UInt64]>([:])
    let interval: UInt64
    let capacity: Int

    init(interval: UInt64 = 30_000_000_000, capacity: Int = 256) {
        self.interval = interval
        self.capacity = capacity
    }

    func shouldLog(_ key: String, now: UInt64) -> Bool {
        lastLogged.withLock { seen in
            // `now` is read before the lock: a thread that read an earlier time can come second.
            // An earlier time than the last logged is within the interval (not a wrapped-around
            // difference, which logged the same cause twice when two loops failed at once).
            if let last = seen[key], now < last || now - last < interval { return false }
            if seen[key] == nil, seen.count >= capacity { seen.removeAll() }
            seen[key] = now
            return true
        }
    }
}
