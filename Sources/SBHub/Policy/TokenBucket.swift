/// A token bucket on monotonic nanoseconds: `rate` tokens per second, at most `burst` banked.
struct TokenBucket {
    let rate: Double
    let burst: Double
    private var tokens: Double
    private var updatedAt: UInt64 = 0

    init(rate: Double, burst: Double) {
        self.rate = rate
        self.burst = max(burst, 1)
        self.tokens = max(burst, 1)
    }

    /// Takes one token if there is one.
    mutating func take(now: UInt64) -> Bool {
        refill(now: now)
        guard tokens >= 1 else { return false }
        tokens -= 1
        return true
    }

    /// Seconds until one token is available (for Retry-After).
    func secondsUntilNext() -> Int {
        max(1, Int(((1 - tokens) / rate).rounded(.up)))
    }

    private mutating func refill(now: UInt64) {
        if updatedAt != 0, now > updatedAt {
            tokens = min(burst, tokens + Double(now - updatedAt) / 1e9 * rate)
        }
        updatedAt = now
    }
}
