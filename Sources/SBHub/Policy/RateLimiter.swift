import SBCore

/// REST write limits per client address: token buckets in a bounded map.
///
/// A bucket that has been idle long enough to refill completely is the same as a new one, so it
/// is dropped by a sweep that runs at most every `sweepInterval` or when the map reaches
/// `capacity`. If active clients alone fill the map, the least recently seen half is dropped
/// (they restart with a full bucket): memory stays bounded whatever addresses arrive, and each
/// request costs amortised O(log n).
struct RateLimiter {
    struct Entry {
        var bucket: TokenBucket
        var lastSeen: UInt64
    }

    let limit: TokenRate
    let capacity: Int
    private(set) var entries: [String: Entry] = [:]
    private var lastSweep: UInt64 = 0
    static let sweepInterval: UInt64 = 10_000_000_000

    init(rate: Double, burst: Double, capacity: Int = 100_000) {
        self.limit = TokenRate(rate: rate, burst: max(burst, rate, 1))
        self.capacity = max(capacity, 2)
    }

    /// Nanoseconds after which an untouched bucket is full again (at most a day, past which it
    /// is forgotten anyway: total for any rate and burst, where `UInt64(Double)` traps).
    var idleAfter: UInt64 {
        let seconds = (limit.burst / max(limit.rate, 1e-9)).rounded(.up).clampedToInt(0...TokenRate.longestWaitSeconds)
        return UInt64(seconds + 1) * 1_000_000_000
    }

    /// nil when the request may go on, else the seconds to wait.
    mutating func take(_ client: String, now: UInt64) -> Int? {
        if entries.count >= capacity || now &- lastSweep > Self.sweepInterval {
            sweep(now: now)
        }
        var entry = entries.removeValue(forKey: client) ?? Entry(bucket: TokenBucket(limit), lastSeen: now)
        entry.lastSeen = now
        let allowed = entry.bucket.take(now: now, limit)
        entries[client] = entry
        return allowed ? nil : entry.bucket.secondsUntilNext(limit)
    }

    /// Seconds to wait when `client`'s bucket holds no token now, else nil; takes nothing and
    /// adds no entry for an unknown client.
    mutating func exhausted(_ client: String, now: UInt64) -> Int? {
        guard var entry = entries[client] else { return nil }
        guard !entry.bucket.hasToken(now: now, limit) else { return nil }
        entries[client] = entry
        return entry.bucket.secondsUntilNext(limit)
    }

    private mutating func sweep(now: UInt64) {
        lastSweep = now
        let idle = idleAfter
        entries = entries.filter { now &- $0.value.lastSeen < idle }
        guard entries.count >= capacity else { return }
        let keep = entries.sorted { $0.value.lastSeen > $1.value.lastSeen }.prefix(capacity / 2)
        entries = Dictionary(uniqueKeysWithValues: keep.map { ($0.key, $0.value) })
    }
}
