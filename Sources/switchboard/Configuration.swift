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
    var logLevel = "info"
    var logFormat = "text"
    var apiKey: String?
    var allowedOrigins: [String]?
    var sessionTTL = 86400
    var queueTTL = 300
    var historyLimit = 10000
    var maxBodyBytes = 1 << 20
    var maxMessageBytes = 1 << 20
    var sendQueueBytes = 8 << 20
    var maxConnections = 100_000
    var heartbeatSeconds = 30
    var shutdownTimeout = 10
    var threads = ProcessInfo.processInfo.activeProcessorCount
    var metricsPublic = false
    var rateLimit = 0.0
    var rateBurst = 0.0
    var wsRateLimit = 50.0
    var headerTimeout = 10
    var idleTimeout = 120
    var instanceId: String?
    var idempotencyTTL = 300
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
    /// API_KEY shorter than this stops the start: a guessable key is auth off in disguise.
    static let minimumAPIKeyBytes = 16

    struct Invalid: Error, CustomStringConvertible {
        let description: String
    }

    /// Reads `KEY=VALUE` lines; `#` comments, blank lines, optional `export ` and quotes allowed.
    static func loadDotEnv(path: String) -> [String: String] {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return [:] }
        var values: [String: String] = [:]
        for rawLine in text.split(whereSeparator: \.isNewline) {
            var line = rawLine.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") { continue }
            if line.hasPrefix("export ") { line = String(line.dropFirst(7)) }
            guard let eq = line.firstIndex(of: "=") else { continue }
            let key = line[..<eq].trimmingCharacters(in: .whitespaces)
            var value = line[line.index(after: eq)...].trimmingCharacters(in: .whitespaces)
            if value.count >= 2, let first = value.first, first == "\"" || first == "'", value.last == first {
                value = String(value.dropFirst().dropLast())
            }
            values[key] = value
        }
        return values
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

/// Looks a variable up in flag → environment → .env order and converts it.
struct SettingSource {
    let environment: [String: String]
    let dotEnv: [String: String]

    /// True when one of `names` is given (flag, environment or .env) with an empty value, which
    /// `raw` treats as unset: for settings where an empty value must not mean "off".
    func givenEmpty(_ flag: String?, _ names: [String]) -> Bool {
        if let flag { return flag.isEmpty }
        return names.contains { environment[$0]?.isEmpty == true || dotEnv[$0]?.isEmpty == true }
            && raw(nil, names) == nil
    }

    func raw(_ flag: String?, _ names: [String]) -> String? {
        if let flag { return flag }
        for name in names {
            if let value = environment[name], !value.isEmpty { return value }
        }
        for name in names {
            if let value = dotEnv[name], !value.isEmpty { return value }
        }
        return nil
    }

    func string(_ flag: String?, _ names: String..., into target: inout String) {
        if let value = raw(flag, names) { target = value }
    }

    func optionalString(_ flag: String?, _ names: String..., into target: inout String?) {
        if let value = raw(flag, names) { target = value }
    }

    func int(_ flag: Int?, _ name: String, range: ClosedRange<Int>, into target: inout Int) throws {
        guard let text = raw(flag.map(String.init), [name]) else { return }
        guard let value = Int(text), range.contains(value) else {
            throw Configuration.Invalid(description: "\(name) must be an integer in \(range.lowerBound)...\(range.upperBound), got '\(text)'")
        }
        target = value
    }

    func double(_ flag: Double?, _ name: String, into target: inout Double) throws {
        guard let text = raw(flag.map { String($0) }, [name]) else { return }
        guard let value = Double(text), value >= 0 else {
            throw Configuration.Invalid(description: "\(name) must be a non-negative number, got '\(text)'")
        }
        target = value
    }

    func bool(_ flag: Bool?, _ name: String, into target: inout Bool) throws {
        guard let text = raw(flag.map { $0 ? "true" : "false" }, [name]) else { return }
        switch text.lowercased() {
        case "1", "true", "yes", "on": target = true
        case "0", "false", "no", "off": target = false
        default: throw Configuration.Invalid(description: "\(name) must be true or false, got '\(text)'")
        }
    }
}
