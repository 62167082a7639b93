import SBCore
import Synchronization

/// A numeric address and port hiredis can connect to without resolving anything.
public struct RedisAddress: Sendable, Hashable, CustomStringConvertible {
    public var host: String
    public var port: Int

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}

/// Where a connection finds its server: at a fixed host (a name is resolved again on every
/// reconnect, off the loop threads), or through Sentinel (asked again on every reconnect).
public enum RedisEndpoint: Sendable {
    case direct(host: String, port: Int)
    case sentinel(SentinelSettings)

    /// A numeric direct address needs no lookup: the connection uses it at once.
    var immediateAddress: RedisAddress? {
        guard case .direct(let host, let port) = self, RedisURL.isNumericAddress(host) else { return nil }
        return RedisAddress(host: host, port: port)
    }
}

/// `REDIS_SENTINELS` / `REDIS_SENTINEL_MASTER` / `REDIS_SENTINEL_PASSWORD` for one master.
/// The sentinel list is shared by every connection of that master and reordered as sentinels
/// answer (the one that answered moves to the front), as the Sentinel client guidelines ask.
public final class SentinelSettings: Sendable {
    public let masterName: String
    public let password: String?
    /// Per sentinel: connect and reply timeout.
    public let queryTimeoutMilliseconds: Int
    /// `rediss://`: the sentinels are asked over TLS too (on their `tls-port`), with the same
    /// CA, client certificate and server-name override as the masters.
    public let tls: RedisTLSSettings?
    // `Locked` (pthread), not `Mutex`: ThreadSanitizer cannot see Mutex's futex on Linux and
    // reported the loops' concurrent `remember` calls as races (see SBCore's Locked).
    private let known: Locked<[RedisAddress]>
    /// The last answer any connection of this master got, and when (in the connections'
    /// clock): the periodic checks of all of them share one lookup per interval.
    private let lastAnswer = Locked<(address: RedisAddress, at: UInt64)?>(nil)
    private let checking = Atomic<Bool>(false)
    /// Sentinels learned from `SENTINEL sentinels` are added up to this many.
    static let maxSentinels = 16

    public init(sentinels: [RedisAddress], masterName: String, password: String? = nil, queryTimeoutMilliseconds: Int = 500,
                tls: RedisTLSSettings? = nil) {
        precondition(!sentinels.isEmpty, "at least one sentinel")
        self.tls = tls
        self.masterName = masterName
        self.password = password
        self.queryTimeoutMilliseconds = queryTimeoutMilliseconds
        known = Locked(sentinels)
    }

    /// The sentinels in the order to ask them (any thread).
    public var sentinels: [RedisAddress] { known.withLock { $0 } }

    /// `sentinel` answered: ask it first next time; remember sentinels it named.
    func answered(_ sentinel: RedisAddress, peers: [RedisAddress]) {
        known.withLock { list in
            list.removeAll { $0 == sentinel }
            list.insert(sentinel, at: 0)
            for peer in peers where !list.contains(peer) && list.count < Self.maxSentinels { list.append(peer) }
        }
    }

    /// The master's address if some connection learned it less than `maxAge` ago.
    func recentMaster(now: UInt64, maxAge: UInt64) -> RedisAddress? {
        lastAnswer.withLock { answer in
            // `now` may predate an answer another thread just stored: that answer is recent.
            guard let answer, now < answer.at || now - answer.at < maxAge else { return nil }
            return answer.address
        }
    }

    func remember(_ address: RedisAddress, now: UInt64) {
        lastAnswer.withLock { $0 = (address, now) }
    }

    /// Claims the periodic check (false: another connection is asking right now).
    func beginCheck() -> Bool {
        checking.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged
    }

    func endCheck() { checking.store(false, ordering: .releasing) }

    /// `host:port,host:port` (port defaults to 26379).
    public static func parseAddresses(_ text: String, setting: String = "REDIS_SENTINELS",
                                      defaultPort: Int = 26379) throws(RedisURL.Invalid) -> [RedisAddress] {
        var out: [RedisAddress] = []
        for item in text.split(separator: ",").map(trimmedSpaces) where !item.isEmpty {
            var host = Substring(item)
            var port = defaultPort
            if let colon = item.lastIndex(of: ":"), !item.hasPrefix("[") || item[..<colon].hasSuffix("]") {
                guard let value = Int(item[item.index(after: colon)...]), (1...65535).contains(value) else {
                    throw RedisURL.Invalid(description: "\(setting): '\(item)' needs a port 1-65535")
                }
                port = value
                host = item[..<colon]
            }
            if host.hasPrefix("[") && host.hasSuffix("]") { host = host.dropFirst().dropLast() }
            guard !host.isEmpty else { throw RedisURL.Invalid(description: "\(setting): '\(item)' has no host") }
            out.append(RedisAddress(host: host == "localhost" ? "127.0.0.1" : String(host), port: port))
        }
        guard !out.isEmpty else { throw RedisURL.Invalid(description: "REDIS_SENTINELS is empty") }
        return out
    }
}

/// Spaces and tabs off both ends (no Foundation in this module).
func trimmedSpaces(_ text: Substring) -> String {
    var s = text
    while s.first == " " || s.first == "\t" { s = s.dropFirst() }
    while s.last == " " || s.last == "\t" { s = s.dropLast() }
    return String(s)
}
