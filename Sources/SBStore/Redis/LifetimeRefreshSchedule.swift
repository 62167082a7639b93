/// When the append script gives a session's keys (seq, epoch, events, times) their full
/// lifetime again. Refreshing on every append cost three `redis.call`s per session of a call
/// (EXPIRE of both lists, the epoch's refresh), about a quarter of the calls of a group commit
/// spread over many sessions. So a store asks for a refresh only when its own last confirmed
/// refresh of the session is `interval` old or more (min(60 s, SESSION_TTL / 100)); in between
/// the seq is written with KEEPTTL. Whichever store appends last refreshed the session at most
/// `interval` before, so a session expires between SESSION_TTL − interval and SESSION_TTL after
/// its last append (was: exactly SESSION_TTL), and a refresh sets all four lifetimes together,
/// so the epoch still outlives the seq by a minute. Keys the script creates get their lifetime
/// at once, whatever this says.
///
/// Bounded: at `capacity` sessions the record is cleared, which only means more refreshes.
struct LifetimeRefreshSchedule {
    let interval: UInt64
    let capacity: Int
    private var lastRefresh: [String: UInt64] = [:]

    init(sessionTTLSeconds: Int, capacity: Int = 16_384) {
        // 1 % of the lifetime, at most a minute, in nanoseconds.
        interval = min(60_000_000_000, UInt64(max(sessionTTLSeconds, 1)) * 10_000_000)
        self.capacity = capacity
    }

    /// Whether a call made `now` should refresh the session's lifetimes.
    func isDue(_ sessionId: String, now: UInt64) -> Bool {
        guard let last = lastRefresh[sessionId] else { return true }
        return now &- last >= interval
    }

    /// The script confirmed a refresh asked for at `sentAt` (the time the call left, so the
    /// record is never later than the refresh itself).
    mutating func confirm(_ sessionId: String, sentAt: UInt64) {
        if lastRefresh.count >= capacity, lastRefresh[sessionId] == nil { lastRefresh.removeAll(keepingCapacity: true) }
        lastRefresh[sessionId] = sentAt
    }

    var count: Int { lastRefresh.count }
}
