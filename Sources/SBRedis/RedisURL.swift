#if canImport(Glibc)
import Glibc
#endif

/// `redis://[user][:password]@host[:port][/db]`, or `rediss://…` for TLS (`usesTLS`; the
/// certificate checks and client certificate come from `tls`, set by whoever configures the
/// process, e.g. from REDIS_TLS_CA_FILE).
///
/// `localhost` is taken as 127.0.0.1. Other host names are kept and resolved on every
/// (re)connect by a `RedisResolver`, off the loop threads (`getaddrinfo` blocks; the socket
/// connects to the numeric address it found). User and password may be percent-encoded (`%40`).
public struct RedisURL: Sendable, Equatable, CustomStringConvertible {
    public var host: String
    public var port: Int
    public var user: String?
    public var password: String?
    public var db: Int
    /// `rediss://`: every connection to this server speaks TLS.
    public var usesTLS: Bool
    /// With `usesTLS`: the client context (CA, client certificate) and server name to check.
    public var tls: RedisTLSSettings?

    public struct Invalid: Error, CustomStringConvertible, Equatable {
        public let description: String
    }

    public init(host: String = "127.0.0.1", port: Int = 6379, user: String? = nil, password: String? = nil, db: Int = 0,
                usesTLS: Bool = false, tls: RedisTLSSettings? = nil) {
        self.usesTLS = usesTLS
        self.tls = tls
        self.host = host
        self.port = port
        self.user = user
        self.password = password
        self.db = db
    }

    /// The same scheme, credentials and TLS settings at another node (Redis Cluster), database 0.
    public func at(_ address: RedisAddress) -> RedisURL {
        var url = self
        url.host = address.host
        url.port = address.port
        url.db = 0
        return url
    }

    public init(parsing text: String) throws(Invalid) {
        let usesTLS = text.hasPrefix("rediss://")
        guard usesTLS || text.hasPrefix("redis://") else {
            throw Invalid(description: "REDIS_URL must start with redis:// (or rediss:// for TLS)")
        }
        var rest = Substring(text.dropFirst(usesTLS ? "rediss://".count : "redis://".count))
        var user: String?, password: String?
        // The last '@' ends the credentials, so an unencoded '@' in a password still parses.
        if let at = rest.lastIndex(of: "@") {
            let credentials = rest[..<at]
            rest = rest[rest.index(after: at)...]
            let name: Substring
            if let colon = credentials.firstIndex(of: ":") {
                name = credentials[..<colon]
                password = try Self.percentDecoded(credentials[credentials.index(after: colon)...])
            } else {
                name = credentials
            }
            if !name.isEmpty { user = try Self.percentDecoded(name) }
        }
        var db = 0
        if let slash = rest.firstIndex(of: "/") {
            let dbText = rest[rest.index(after: slash)...]
            if !dbText.isEmpty {
                guard let value = Int(dbText), value >= 0 else { throw Invalid(description: "REDIS_URL database must be a non-negative number") }
                db = value
            }
            rest = rest[..<slash]
        }
        var host = String(rest)
        var port = 6379
        if let colon = rest.lastIndex(of: ":"), !rest.hasPrefix("[") || rest[..<colon].hasSuffix("]") {
            guard let value = Int(rest[rest.index(after: colon)...]), (1...65535).contains(value) else {
                throw Invalid(description: "REDIS_URL port must be 1-65535")
            }
            port = value
            host = String(rest[..<colon])
        }
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        if host.isEmpty || host == "localhost" { host = "127.0.0.1" }
        self.init(host: host, port: port, user: user, password: password, db: db, usesTLS: usesTLS)
    }

    /// The same URL with its host name resolved to a numeric address (the first one
    /// `getaddrinfo` gives). Blocking: only for startup checks and tools; connections resolve
    /// on every reconnect through a `RedisResolver`, off the loop threads.
    public func resolved() throws(Invalid) -> RedisURL {
        switch RedisDiscovery.numericAddress(of: host) {
        case .success(let address):
            var copy = self
            copy.host = address
            return copy
        case .failure(let error):
            throw Invalid(description: "REDIS_URL \(error.description)")
        }
    }

    /// The URL without its password, for logs.
    public var description: String {
        let credentials = user.map { "\($0)\(password == nil ? "" : ":***")@" } ?? (password == nil ? "" : ":***@")
        let shownHost = host.contains(":") ? "[\(host)]" : host
        return "\(usesTLS ? "rediss" : "redis")://\(credentials)\(shownHost):\(port)/\(db)"
    }

    static func isNumericAddress(_ host: String) -> Bool {
        var v4 = in_addr()
        var v6 = in6_addr()
        return inet_pton(AF_INET, host, &v4) == 1 || inet_pton(AF_INET6, host, &v6) == 1
    }

    static func percentDecoded(_ text: Substring) throws(Invalid) -> String {
        guard text.contains("%") else { return String(text) }
        var out: [UInt8] = []
        var bytes = Array(text.utf8)[...]
        while let byte = bytes.popFirst() {
            guard byte == UInt8(ascii: "%") else { out.append(byte); continue }
            guard bytes.count >= 2, let value = UInt8(String(decoding: bytes.prefix(2), as: UTF8.self), radix: 16) else {
                throw Invalid(description: "REDIS_URL has a malformed %-escape in its credentials")
            }
            out.append(value)
            bytes = bytes.dropFirst(2)
        }
        return String(decoding: out, as: UTF8.self)
    }
}
