import Foundation
import SBHub
import SBTLS

/// Resolved settings. Precedence: command-line flag > environment > `.env` file > default.
struct Configuration {
    var host = "0.0.0.0"
    var port = 3001
    var redisURL: String?
    var redisPrefix = "afw:"
    var redisSentinels: String?
    var redisSentinelMaster: String?
    var redisSentinelPassword: String?
    var redisMinReplicas = 0
    var redisReplicaTimeout = 1000
    var redisChannelMode = "shared"
    var redisChannelBatch = "on"
    var redisClusterNodes: String?
    var redisClusterClassicChannel = false
    var redisTLSCAFile: String?
    var redisTLSServerName: String?
    var redisTLSCertFile: String?
    var redisTLSKeyFile: String?
    var logLevel = "info"
    var logFormat = "text"
    var apiKey: String?
    var allowedOrigins: [String]?
    var sessionTTL = 86400
    var queueTTL = 300
    var historyLimit = 10000
    var maxBodyBytes = 1 << 20
    var maxMessageBytes = 1 << 20
    var wsCompression = "shared"
    var wsCompressionMinBytes = 256
    var sendQueueBytes = 8 << 20
    var maxConnections = 100_000
    var heartbeatSeconds = 30
    var shutdownTimeout = 10
    var threads = min(ProcessInfo.processInfo.activeProcessorCount, 256)  // THREADS' range
    var metricsPublic = false
    var rateLimit = 0.0
    var rateBurst = 0.0
    var wsRateLimit = 50.0
    var headerTimeout = 10
    var idleTimeout = 120
    var instanceId: String?
    var idempotencyTTL = 300
    var presenceTTL = 15
    var maxSubscriptionsPerConnection = 1000
    var maxQueueLength = 10000
    var trustedProxies = TrustedProxies.none
    var tokenSecret: String?
    var tokenPublicKey: String?
    var tokenIssuer: String?
    var tokenAudience: String?
    var tokenLeeway = 30
    var tokenExpiryNotice = 60
    var tlsCertFile: String?
    var tlsKeyFile: String?
    var tlsHandshakeTimeout = 10
    var echoEndpoint = false
    var authFailureRate = 1.0
    var authFailureBurst = 20.0
    var tokenMaxTTL = 86400
    var tlsHSTSSeconds = 0
    /// A quarter of the memory the machine or cgroup gives, at least 64 MiB (`MemoryBudget`).
    var memoryStoreMaxBytes = MachineMemory.defaultStoreBudget()
    var memoryStoreEviction = "on"
    /// API_KEY shorter than this stops the start: a guessable key is auth off in disguise.
    static let minimumAPIKeyBytes = 16

    struct Invalid: Error, CustomStringConvertible {
        let description: String
    }

    /// HOST is bound as given, never looked up: a numeric IPv4 or IPv6 address.
    static func isNumericAddress(_ host: String) -> Bool {
        var v4 = in_addr()
        var v6 = in6_addr()
        return inet_pton(AF_INET, host, &v4) == 1 || inet_pton(AF_INET6, host, &v6) == 1
    }
}

extension Configuration {
    /// TOKEN_*: the PEM file is read here, at startup, so a bad path or key stops the start.
    func tokenSettings() throws -> TokenSettings? {
        var pem: Data?
        if let path = tokenPublicKey {
            guard let data = FileManager.default.contents(atPath: path) else {
                throw Invalid(description: "TOKEN_PUBLIC_KEY: cannot read \(path)")
            }
            pem = data
        }
        return try TokenSettings(secret: tokenSecret, publicKeyPEM: pem, issuer: tokenIssuer, audience: tokenAudience,
                                 leewaySeconds: tokenLeeway, expiryNoticeSeconds: tokenExpiryNotice, maxTTLSeconds: tokenMaxTTL)
    }
}

extension Configuration {
    /// True when some REDIS_URL entry is `rediss://`.
    var redisUsesTLS: Bool {
        (redisURL ?? "").split(separator: ",").contains { $0.trimmingCharacters(in: .whitespaces).hasPrefix("rediss://") }
    }

    /// The client TLS context of `rediss://` (REDIS_TLS_CA_FILE, REDIS_TLS_CERT_FILE,
    /// REDIS_TLS_KEY_FILE), read and checked at startup so a missing or invalid file stops the
    /// start naming it; nil without `rediss://`. REDIS_TLS_* without `rediss://` stops the start
    /// too: they would silently do nothing.
    func redisTLSContext() throws -> TLSClientContext? {
        guard redisUsesTLS else {
            if redisTLSCAFile != nil || redisTLSCertFile != nil || redisTLSKeyFile != nil || redisTLSServerName != nil {
                throw Invalid(description: "REDIS_TLS_* settings need a rediss:// REDIS_URL (they apply to TLS connections only)")
            }
            return nil
        }
        do {
            return try TLSClientContext(caFile: redisTLSCAFile, certificateFile: redisTLSCertFile, keyFile: redisTLSKeyFile,
                                        variablePrefix: "REDIS_TLS")
        } catch {
            throw Invalid(description: error.description)
        }
    }

    /// TLS_CERT_FILE and TLS_KEY_FILE: read and checked here, at startup, so a missing,
    /// unreadable or mismatched file stops the start with a message naming it.
    func tlsContext() throws -> TLSContext? {
        switch (tlsCertFile, tlsKeyFile) {
        case (nil, nil):
            return nil
        case (let cert?, let key?):
            do {
                return try TLSContext(certificateFile: cert, keyFile: key)
            } catch {
                throw Invalid(description: error.description)
            }
        default:
            throw Invalid(description: "TLS_CERT_FILE and TLS_KEY_FILE must be set together (TLS needs both the certificate and its key)")
        }
    }
}

/// The `.env` file: Switchboard's own, so it is read strictly. Each line is blank, a `#`
/// comment or `[export ]NAME=value` (value optionally in matching quotes); anything else stops
/// the start naming the line, and so does a NAME that is not a setting (checked by `check`).
struct DotEnv {
    let path: String
    private(set) var values: [String: String] = [:]
    /// The line each name was set on, for messages.
    private(set) var lines: [String: Int] = [:]

    init(values: [String: String] = [:], path: String = ".env") {
        self.path = path
        self.values = values
    }

    /// A missing file is an empty one; an unreadable or malformed one throws.
    static func load(path: String) throws -> DotEnv {
        var dotEnv = DotEnv(path: path)
        guard FileManager.default.fileExists(atPath: path) else { return dotEnv }
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw Configuration.Invalid(description: "\(path): cannot be read as UTF-8 text")
        }
        var number = 0
        // "\r\n" is one Character in Swift: both line ends are separators.
        for rawLine in text.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" }) {
            number += 1
            var line = rawLine.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") { continue }
            if line.hasPrefix("export ") { line = String(line.dropFirst(7)).trimmingCharacters(in: .whitespaces) }
            guard let eq = line.firstIndex(of: "="), Self.isName(line[..<eq].trimmingCharacters(in: .whitespaces)) else {
                throw Configuration.Invalid(description: "\(path):\(number): not a NAME=value line (a comment starts with #)")
            }
            let key = line[..<eq].trimmingCharacters(in: .whitespaces)
            var value = line[line.index(after: eq)...].trimmingCharacters(in: .whitespaces)
            if let first = value.first, first == "\"" || first == "'" {
                guard value.count >= 2, value.last == first else {
                    throw Configuration.Invalid(description: "\(path):\(number): \(key): the quote \(first) is not closed at the end of the line")
                }
                value = String(value.dropFirst().dropLast())
            }
            if let earlier = dotEnv.lines[key] {
                throw Configuration.Invalid(description: "\(path):\(number): \(key) is set already on line \(earlier)")
            }
            dotEnv.values[key] = value
            dotEnv.lines[key] = number
        }
        return dotEnv
    }

    /// Every name must be a setting (`known`): a typo such as PROT=4000 stops the start.
    func check(known: Set<String>) throws {
        for (key, line) in lines.sorted(by: { $0.value < $1.value }) where !known.contains(key) {
            throw Configuration.Invalid(description: "\(path):\(line): unknown variable \(key) (every setting is listed in .env.example and README, Configuration)")
        }
    }

    /// One value, read leniently (for the format of the line that reports a bad `.env`).
    static func peek(_ name: String, path: String) -> String? {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return nil }
        for line in text.split(whereSeparator: \.isNewline) {
            let parts = line.split(separator: "=", maxSplits: 1)
            guard parts.count == 2 else { continue }
            var key = parts[0].trimmingCharacters(in: .whitespaces)
            if key.hasPrefix("export ") { key = String(key.dropFirst(7)).trimmingCharacters(in: .whitespaces) }
            if key == name { return parts[1].trimmingCharacters(in: .whitespaces).trimmingCharacters(in: CharacterSet(charactersIn: "\"'")) }
        }
        return nil
    }

    static func isName<S: StringProtocol>(_ text: S) -> Bool {
        guard let first = text.unicodeScalars.first, first == "_" || (first.isASCII && first.properties.isAlphabetic) else { return false }
        return text.unicodeScalars.allSatisfy { $0 == "_" || ($0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0))) }
    }
}

/// Looks a variable up in flag → environment → .env order, converts and range-checks it, and
/// records where each setting came from (`switchboard config`).
final class SettingSource {
    enum Origin: String { case flag, env, dotEnv = ".env", `default` }

    struct Resolved {
        let name: String
        let value: String
        let origin: Origin
    }

    let environment: [String: String]
    let dotEnv: [String: String]
    /// Off for the dry run that lists the settings (`knownNames`): flags are not consulted.
    let useFlags: Bool
    private(set) var resolved: [Resolved] = []
    /// Every name looked up, aliases included.
    private(set) var names: Set<String> = []

    init(environment: [String: String], dotEnv: [String: String], useFlags: Bool = true) {
        self.environment = environment
        self.dotEnv = dotEnv
        self.useFlags = useFlags
    }

    /// Settings whose value is never printed; REDIS_URL shows its URLs without their password.
    static let secrets: Set<String> = ["API_KEY", "TOKEN_SECRET", "REDIS_SENTINEL_PASSWORD"]

    /// True when one of `names` is given (flag, environment or .env) with an empty value, which
    /// `raw` treats as unset: for settings where an empty value must not mean "off".
    func givenEmpty(_ flag: String?, _ names: [String]) -> Bool {
        if useFlags, let flag { return flag.isEmpty }
        let empty = names.contains { environment[$0]?.isEmpty == true || dotEnv[$0]?.isEmpty == true }
        let value = names.contains { environment[$0]?.isEmpty == false || dotEnv[$0]?.isEmpty == false }
        return empty && !value
    }

    func raw(_ flag: String?, _ names: [String], default defaultValue: String?) -> String? {
        self.names.formUnion(names)
        var found: (String, Origin)?
        if useFlags, let flag {
            found = (flag, .flag)
        } else if let value = names.lazy.compactMap({ self.environment[$0] }).first(where: { !$0.isEmpty }) {
            found = (value, .env)
        } else if let value = names.lazy.compactMap({ self.dotEnv[$0] }).first(where: { !$0.isEmpty }) {
            found = (value, .dotEnv)
        }
        let (value, origin) = found ?? (defaultValue ?? "", .default)
        resolved.append(Resolved(name: names[0], value: found == nil && defaultValue == nil ? "(unset)" : Self.masked(names[0], value), origin: origin))
        return found?.0
    }

    /// The last setting looked up took `value` (converted: what the server uses).
    private func settle(_ value: String) {
        guard let last = resolved.popLast() else { return }
        resolved.append(Resolved(name: last.name, value: value, origin: last.origin))
    }

    static func masked(_ name: String, _ value: String) -> String {
        if secrets.contains(name) { return "****" }
        if name == "REDIS_URL" {
            // redis://user:password@host → redis://user:****@host, for each URL of the list.
            return value.split(separator: ",", omittingEmptySubsequences: false).map { url -> String in
                guard let scheme = url.range(of: "://"), let at = url[scheme.upperBound...].lastIndex(of: "@") else { return String(url) }
                let credentials = url[scheme.upperBound..<at]
                let user = credentials.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
                let hidden = user.count == 2 ? "\(user[0]):****" : (credentials.isEmpty ? "" : "****")
                return String(url[..<scheme.upperBound]) + hidden + String(url[at...])
            }.joined(separator: ",")
        }
        return value
    }

    func string(_ flag: String?, _ names: String..., into target: inout String) {
        if let value = raw(flag, names, default: target) { target = value }
    }

    func optionalString(_ flag: String?, _ names: String..., into target: inout String?) {
        if let value = raw(flag, names, default: target) { target = value }
    }

    func int(_ flag: Int?, _ name: String, range: ClosedRange<Int>, unit: String = "", into target: inout Int) throws {
        guard let text = raw(flag.map(String.init), [name], default: String(target)) else { return }
        guard let value = Int(text.trimmingCharacters(in: .whitespaces)), range.contains(value) else {
            throw Configuration.Invalid(description: "\(name) must be an integer in \(range.lowerBound)...\(range.upperBound)\(unit.isEmpty ? "" : " (\(unit))"), got '\(text)'")
        }
        target = value
        settle(String(value))
    }

    /// A finite number in `range`, or 0 when `zero` says what 0 means (e.g. "off").
    func double(_ flag: Double?, _ name: String, range: ClosedRange<Double>, unit: String, zero: String? = nil,
                into target: inout Double) throws {
        guard let text = raw(flag.map { String($0) }, [name], default: Self.format(target)) else { return }
        let digits = text.trimmingCharacters(in: .whitespaces)
        // Decimal only: Swift's Double(String) also takes hex floats, "nan" and "inf".
        let value = digits.allSatisfy { "0123456789.eE+-".contains($0) } ? Double(digits) : nil
        guard let value, value.isFinite, range.contains(value) || (zero != nil && value == 0) else {
            let bounds = "\(Self.format(range.lowerBound))...\(Self.format(range.upperBound)) (\(unit))"
            throw Configuration.Invalid(description: "\(name) must be \(zero.map { "0 (\($0)) or " } ?? "")a number in \(bounds), got '\(text)'")
        }
        target = value
        settle(Self.format(value))
    }

    static func format(_ value: Double) -> String {
        value == value.rounded() && abs(value) < 1e15 ? String(Int(value)) : String(value)
    }

    func bool(_ flag: Bool?, _ name: String, into target: inout Bool) throws {
        guard let text = raw(flag.map { $0 ? "true" : "false" }, [name], default: target ? "true" : "false") else { return }
        switch text.lowercased() {
        case "1", "true", "yes", "on": target = true
        case "0", "false", "no", "off": target = false
        default: throw Configuration.Invalid(description: "\(name) must be true or false, got '\(text)'")
        }
    }
}
