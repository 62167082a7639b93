/// A token-bucket limit: `rate` tokens per second, at most `burst` banked. One value per limit,
/// shared by all its buckets.
struct TokenRate: Sendable {
    let rate: Double
    let burst: Double

    init(rate: Double, burst: Double) {
        self.rate = rate
        self.burst = max(burst, 1)
    }
}

/// One client's bucket on monotonic nanoseconds. Holds only its own state (16 bytes): the limit
/// is passed in, so a bucket per connection or per client address costs no copy of it.
struct TokenBucket {
    private var tokens: Double
    private var updatedAt: UInt64 = 0

    /// A full bucket.
    init(_ limit: TokenRate) {
        tokens = limit.burst
    }

    /// A bucket that is full when first used: the limit is not known yet (or may never be).
    init() {
        tokens = 0
    }

    /// Takes one token if there is one.
    mutating func take(now: UInt64, _ limit: TokenRate) -> Bool {
        guard hasToken(now: now, limit) else { return false }
        tokens -= 1
        return true
    }

    /// Refills to `now`, then tells whether a token is there (none is taken).
    mutating func hasToken(now: UInt64, _ limit: TokenRate) -> Bool {
        if updatedAt == 0 {
            tokens = limit.burst
        } else if now > updatedAt {
            tokens = min(limit.burst, tokens + Double(now - updatedAt) / 1e9 * limit.rate)
        }
        updatedAt = now
        return tokens >= 1
    }

    /// Seconds until one token is available (for Retry-After), 1 s to one day: total for any
    /// rate (a tiny or zero rate gives an infinite wait, which no Int holds).
    func secondsUntilNext(_ limit: TokenRate) -> Int {
        ((1 - tokens) / limit.rate).rounded(.up).clampedToInt(1...TokenRate.longestWaitSeconds)
    }
}

extension TokenRate {
    /// The longest Retry-After given, whatever the rate.
    static let longestWaitSeconds = 86_400
}

extension Double {
    /// `self` as an Int inside `range`: NaN gives the lower bound, anything beyond a bound that
    /// bound. `Int(self)` traps on NaN, infinity and values past Int's range.
    func clampedToInt(_ range: ClosedRange<Int>) -> Int {
        guard !isNaN else { return range.lowerBound }
        if self <= Double(range.lowerBound) { return range.lowerBound }
        if self >= Double(range.upperBound) { return range.upperBound }
        return Int(self)
    }
}
