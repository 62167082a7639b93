/// What to do with one command's outcome on Redis Cluster, as a value: the cluster client feeds
/// it each reply or failure and performs the action it returns. Tested by tables, no sockets.
///
/// * `MOVED slot host:port`: the slot has a new master. Send there, and refresh the map.
/// * `ASK slot host:port`: the slot is being migrated and this key is already at the target.
///   Send there once, preceded by `ASKING`; the map is unchanged.
/// * `TRYAGAIN` (a multi-key command during migration), `CLUSTERDOWN` (no quorum, a failover
///   under way), `MASTERDOWN`, `LOADING`, or no ready connection to the slot's master: wait
///   with a doubling backoff and try again (refreshing the map), until `deadline`; then fail,
///   and the hub answers 503 (a client's retry with its Idempotency-Key stays safe).
/// * A lost reply (`.disconnected`, `.timeout`): the command may have run, so it is not
///   repeated: the caller fails with 503 and its client retries with the same key.
/// * At most `maxRedirects` redirections per command: a map that keeps disagreeing fails.
public struct ClusterRequestAttempts: Sendable, Equatable {
    public enum Action: Equatable, Sendable {
        /// The outcome is final: hand it to the caller.
        case complete
        /// Send again to `address` (first `ASKING` when `asking`); `refreshMap` after MOVED.
        case redirect(to: RedisAddress, asking: Bool, refreshMap: Bool, movedSlot: Int?)
        /// Try again at the slot's owner after the delay, with the map refreshed.
        case retry(afterMilliseconds: Int)
        /// Give up with this reason (an `.unavailable` store error).
        case fail(String)
    }

    public let deadline: UInt64
    public let maxRedirects: Int
    public private(set) var redirects = 0
    private var delayMilliseconds = 10

    public init(now: UInt64, budgetMilliseconds: Int = 2000, maxRedirects: Int = 5) {
        deadline = now &+ UInt64(budgetMilliseconds) * 1_000_000
        self.maxRedirects = maxRedirects
    }

    /// The reply (an error reply included) or failure of an attempt.
    public mutating func outcome(_ result: Result<RedisReply, RedisError>, now: UInt64) -> Action {
        switch result {
        case .success(.error(let message)):
            return errorReply(message, now: now)
        case .success:
            return .complete
        case .failure(.unavailable):
            return later(now: now, reason: "no connection to the slot's redis master")
        case .failure(.disconnected), .failure(.timeout):
            return .complete
        }
    }

    /// The slot has no known master, or no ready connection to it, before sending.
    public mutating func noRoute(now: UInt64) -> Action {
        later(now: now, reason: "no redis master is known for the slot")
    }

    private mutating func errorReply(_ message: String, now: UInt64) -> Action {
        let word = message.prefix { $0 != " " }
        switch word {
        case "MOVED", "ASK":
            let parts = message.split(separator: " ")
            guard parts.count >= 3, let slot = Int(parts[1]), let address = Self.address(parts[2]) else { return .complete }
            redirects += 1
            guard redirects <= maxRedirects else { return .fail("redis cluster redirected the command \(redirects) times") }
            return word == "MOVED" ? .redirect(to: address, asking: false, refreshMap: true, movedSlot: slot)
                                   : .redirect(to: address, asking: true, refreshMap: false, movedSlot: nil)
        case "TRYAGAIN", "CLUSTERDOWN", "MASTERDOWN", "LOADING":
            return later(now: now, reason: "redis cluster: \(message)")
        default:
            return .complete
        }
    }

    private mutating func later(now: UInt64, reason: String) -> Action {
        guard now < deadline else { return .fail(reason) }
        let delay = delayMilliseconds
        delayMilliseconds = min(delayMilliseconds * 2, 200)
        return .retry(afterMilliseconds: delay)
    }

    /// `host:port`, the host possibly an IPv6 address (`::1:6379`) or empty (Redis's own
    /// "unknown endpoint", answered as the node we asked: not handled, nil).
    static func address(_ text: Substring) -> RedisAddress? {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]) else { return nil }
        let host = text[..<colon]
        guard !host.isEmpty, host != "?" else { return nil }
        return RedisAddress(host: String(host), port: port)
    }
}
