import SBCore
import Synchronization

/// Why an authentication failed: the `reason` label of `switchboard_auth_failures_total`
/// (a closed set, so the series stay bounded whatever clients send).
enum AuthFailureReason: String, CaseIterable, Sendable {
    /// No key and no token at all.
    case missing
    /// A key that is not the key.
    case wrongKey = "wrong_key"
    /// A token that does not verify: bad signature, malformed, wrong issuer or audience, lifetime.
    case badToken = "bad_token"
    /// A token that verified but has expired.
    case expiredToken = "expired_token"
    /// Refused without a check: the address used up its failure budget.
    case throttled
}

/// Failed authentications per client address (TRUSTED_PROXIES honoured by the caller): a token
/// bucket per address, spent by each 401. While an address's bucket is empty every request from
/// it that needs a credential gets 429 without the credential being checked, so guessing keys
/// costs time whatever the guesses; other addresses are never slowed by it.
///
/// Addresses with no failures are not tracked at all, and a request reads the shared map only
/// while some address is tracked (`tracked`, one relaxed load on the common path).
final class AuthFailureLimiter: Sendable {
    private let limiter: Locked<RateLimiter>
    private let tracked = Atomic<Int>(0)

    init(rate: Double, burst: Double, capacity: Int) {
        limiter = Locked(RateLimiter(rate: rate, burst: burst, capacity: capacity))
    }

    /// Seconds to wait when `client` has no failure left, else nil.
    func blocked(_ client: String, now: UInt64) -> Int? {
        guard tracked.load(ordering: .relaxed) > 0 else { return nil }
        return limiter.withLock { $0.exhausted(client, now: now) }
    }

    /// Spends one failure of `client`: nil while it had one left, else the seconds to wait.
    func failed(_ client: String, now: UInt64) -> Int? {
        limiter.withLock { limiter in
            let retry = limiter.take(client, now: now)
            tracked.store(limiter.entries.count, ordering: .relaxed)
            return retry
        }
    }
}
