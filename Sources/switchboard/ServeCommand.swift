import ArgumentParser
import SBCore
import SBHub
import Foundation
import SBStore
import SBTLS

@main
struct Switchboard: ParsableCommand {
    static let version = "0.1.0"
    static let configuration = CommandConfiguration(
        commandName: "switchboard",
        abstract: "Multi-instance event broadcast hub: REST in, WebSocket out, Redis between instances.",
        discussion: """
            With no subcommand, switchboard serves. Every setting is a serve flag, listed with \
            `switchboard serve --help`: the kebab-case of its environment variable (PORT -> --port); \
            a flag overrides the environment, which overrides .env. `switchboard --print-config` \
            prints the effective settings and where each came from.
            """,
        version: version,
        subcommands: [Serve.self, RedisScriptCommand.self, ReshardCommand.self, MigrateCommand.self],
        defaultSubcommand: Serve.self
    )

    /// As ArgumentParser's, except that with LOG_FORMAT=json (flag, environment or .env) a
    /// fatal line — a bad setting (exit 64) or a failed start — is a JSON log line too.
    static func main() {
        let arguments = Array(CommandLine.arguments.dropFirst())
        do {
            var command = try parseAsRoot(arguments)
            try command.run()
        } catch let invalid as Configuration.Invalid {
            // A bad setting: the message names it; exit 64 (EX_USAGE) as for a bad flag.
            if FatalLine.wantsJSON(arguments: arguments) {
                FatalLine.writeJSON(invalid.description)
            } else {
                FileHandle.standardError.write(Data("Error: \(invalid.description)\n(every setting: README, Configuration; every flag: switchboard serve --help)\n".utf8))
            }
            Foundation.exit(ExitCode.validationFailure.rawValue)
        } catch {
            let code = exitCode(for: error)
            if code != .success, FatalLine.wantsJSON(arguments: arguments) {
                FatalLine.writeJSON(message(for: error))
                Foundation.exit(code.rawValue)
            }
            exit(withError: error)
        }
    }
}

/// The last line of a start that fails, in the log's format.
enum FatalLine {
    static func wantsJSON(arguments: [String]) -> Bool {
        var format: String?
        for (i, argument) in arguments.enumerated() {
            if argument == "--log-format", i + 1 < arguments.count { format = arguments[i + 1] }
            if argument.hasPrefix("--log-format=") { format = String(argument.dropFirst("--log-format=".count)) }
        }
        if format == nil, let value = ProcessInfo.processInfo.environment["LOG_FORMAT"], !value.isEmpty { format = value }
        if format == nil, let value = DotEnv.peek("LOG_FORMAT", path: ".env") { format = value }
        return format?.lowercased() == "json"
    }

    static func writeJSON(_ message: String) {
        let object: [String: Any] = ["ts": ISO8601.format(milliseconds: WallClock.millisecondsSinceEpoch()), "level": "critical",
                                     "logger": "switchboard", "msg": message]
        guard var line = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes]) else { return }
        line.append(0x0A)
        FileHandle.standardError.write(line)
    }
}

struct Serve: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the hub (the default). Each flag overrides its environment variable, which overrides .env.",
        discussion: "Every number is checked at startup against the range README (Configuration) gives; a value outside it, or a .env line that is not a known NAME=value, stops the start with exit 64."
    )

    @Flag(help: "Print the effective settings, each with its source (flag, env, .env, default), secrets masked, and exit.") var printConfig = false

    @Option(help: "Port for HTTP and WebSocket (PORT, default 3001).") var port: Int?
    @Option(help: "Numeric IPv4 or IPv6 address to listen on (HOST, default 0.0.0.0).") var host: String?
    @Option(help: "redis://[user][:password]@host:port[/db]; a comma list = one shard each; unset = in-memory store (REDIS_URL).") var redisUrl: String?
    @Option(help: "Comma list of Sentinel host:port; the master is found through them (REDIS_SENTINELS).") var redisSentinels: String?
    @Option(help: "Master name(s) Sentinel monitors; a comma list = one shard each (REDIS_SENTINEL_MASTER).") var redisSentinelMaster: String?
    @Option(help: "Password of the sentinels themselves (REDIS_SENTINEL_PASSWORD).") var redisSentinelPassword: String?
    @Option(help: "Replicas that must confirm an append (WAIT) before 2xx; 0 = do not wait (REDIS_MIN_REPLICAS, default 0).") var redisMinReplicas: Int?
    @Option(help: "Milliseconds to wait for those replicas before 503 (REDIS_REPLICA_TIMEOUT, default 1000).") var redisReplicaTimeout: Int?
    @Option(help: "shared: every instance hears every event on <prefix>events; session: each instance hears only the sessions its clients watch (REDIS_CHANNEL_MODE, default shared).") var redisChannelMode: String?
    @Option(help: "on: one channel message carries the events of one session that one append script call stored; off: one message per event, for old-backend consumers of <prefix>events during a migration (REDIS_CHANNEL_BATCH, default on).") var redisChannelBatch: String?
    @Option(help: "Comma list of Redis Cluster seed nodes host:port; selects cluster mode (REDIS_URL then gives only scheme, user and password) (REDIS_CLUSTER_NODES).") var redisClusterNodes: String?
    @Option(help: "Cluster mode: also publish every message to the classic <prefix>events channel, for old consumers; Redis sends it to every node (REDIS_CLUSTER_CLASSIC_CHANNEL, default false).") var redisClusterClassicChannel: Bool?
    @Option(help: "Prefix of every Redis key and of the channel (REDIS_PREFIX, default afw:).") var redisPrefix: String?
    @Option(help: "PEM CA certificate(s) that verify the Redis server with rediss://; unset = the system CA store (REDIS_TLS_CA_FILE).") var redisTlsCaFile: String?
    @Option(help: "Name the Redis server's certificate must carry (and SNI); unset = the host of REDIS_URL (REDIS_TLS_SERVER_NAME).") var redisTlsServerName: String?
    @Option(help: "PEM client certificate presented to Redis with rediss:// (REDIS_TLS_CERT_FILE, with REDIS_TLS_KEY_FILE).") var redisTlsCertFile: String?
    @Option(help: "PEM private key (unencrypted) of the Redis client certificate (REDIS_TLS_KEY_FILE). SIGHUP reloads the REDIS_TLS_* files.") var redisTlsKeyFile: String?
    @Option(help: "trace, debug, info, notice, warning, error, critical (LOG_LEVEL, default info).") var logLevel: String?
    @Option(help: "text or json (LOG_FORMAT, default text).") var logFormat: String?
    @Option(help: "Key required on REST and WebSocket, at least 16 bytes; unset = auth off, empty = refused (API_KEY or AFW_API_KEY).") var apiKey: String?
    @Option(help: "Comma list of Origins allowed to open WebSockets (at least one); unset = any (ALLOWED_ORIGINS).") var allowedOrigins: String?
    @Option(help: "Seconds sessions, events and chains live (SESSION_TTL, default 86400).") var sessionTtl: Int?
    @Option(help: "Seconds command and input queues live (QUEUE_TTL, default 300).") var queueTtl: Int?
    @Option(help: "Events kept per session (HISTORY_LIMIT, default 10000).") var historyLimit: Int?
    @Option(help: "Bytes the in-memory store may hold, as counted (MEMORY_STORE_MAX_BYTES, default a quarter of RAM or the cgroup limit, at least 64 MiB).") var memoryStoreMaxBytes: Int?
    @Option(help: "on: at the limit evict the least recently written sessions without a subscriber; off: refuse writes with 507 (MEMORY_STORE_EVICTION, default on).") var memoryStoreEviction: String?
    @Option(help: "Largest HTTP body in bytes (MAX_BODY_BYTES, default 1048576).") var maxBodyBytes: Int?
    @Option(help: "Largest WebSocket message in bytes (MAX_MESSAGE_BYTES, default 1048576).") var maxMessageBytes: Int?
    @Option(help: "permessage-deflate: shared = offered to clients, each event compressed once for every subscriber that agreed; off = never agreed (WS_COMPRESSION, default shared).") var wsCompression: String?
    @Option(help: "Smallest WebSocket message that is sent compressed, in bytes (WS_COMPRESSION_MIN_BYTES, default 256).") var wsCompressionMinBytes: Int?
    @Option(help: "Unsent bytes per client before it is cut off (SEND_QUEUE_BYTES, default 8388608).") var sendQueueBytes: Int?
    @Option(help: "Open connections beyond which new ones get 503 (MAX_CONNECTIONS, default 100000).") var maxConnections: Int?
    @Option(help: "Server ping interval; silent clients dropped after two (HEARTBEAT_SECONDS, default 30).") var heartbeatSeconds: Int?
    @Option(help: "Graceful drain budget in seconds after SIGTERM/SIGINT (SHUTDOWN_TIMEOUT, default 10).") var shutdownTimeout: Int?
    @Option(help: "Event-loop threads (THREADS, default CPU count).") var threads: Int?
    @Option(help: "Serve /metrics without the API key (METRICS_PUBLIC, default false).") var metricsPublic: Bool?
    @Option(help: "REST writes per second per client IP, 0.001-1000000, 0 = unlimited (RATE_LIMIT, default 0).") var rateLimit: Double?
    @Option(help: "REST write burst per client IP, 1-1000000, 0 = RATE_LIMIT (RATE_BURST, default = RATE_LIMIT).") var rateBurst: Double?
    @Option(help: "WebSocket messages per second per connection, 0.001-1000000, 0 = unlimited (WS_RATE_LIMIT, default 50).") var wsRateLimit: Double?
    @Option(help: "Seconds to receive a whole request, head and body, before 408 (HEADER_TIMEOUT, default 10).") var headerTimeout: Int?
    @Option(help: "Seconds an idle keep-alive connection is kept (IDLE_TIMEOUT, default 120).") var idleTimeout: Int?
    @Option(help: "Instance id shown in /health (INSTANCE_ID, default random).") var instanceId: String?
    @Option(help: "Seconds an Idempotency-Key or client eventId is remembered (IDEMPOTENCY_TTL, default 300).") var idempotencyTtl: Int?
    @Option(help: "Seconds, 3-3600, after which the clients of an instance that stopped renewing its leases leave every presence (PRESENCE_TTL, default 15).") var presenceTtl: Int?
    @Option(help: "Subscriptions one WebSocket may hold (MAX_SUBSCRIPTIONS_PER_CONNECTION, default 1000).") var maxSubscriptionsPerConnection: Int?
    @Option(help: "Items a session's command or input queue may hold before 429 (MAX_QUEUE_LENGTH, default 10000).") var maxQueueLength: Int?
    @Option(help: "Failed authentications per second per client address before 429 (AUTH_FAILURE_RATE, default 1).") var authFailureRate: Double?
    @Option(help: "Failed authentications a client address may make at once before that rate applies (AUTH_FAILURE_BURST, default 20).") var authFailureBurst: Double?
    @Option(help: "Serve /echo, the WebSocket echo for conformance runs, with /ws's checks (ECHO_ENDPOINT, default false).") var echoEndpoint: Bool?
    @Option(help: "CIDR list of proxies whose X-Forwarded-For names the client, for limits and logs (TRUSTED_PROXIES, default none).") var trustedProxies: String?

    @Option(help: "HS256 secret (32+ bytes) that verifies and mints scoped tokens (TOKEN_SECRET).") var tokenSecret: String?
    @Option(help: "Path of a PEM public key verifying RS256 (RSA) or ES256 (P-256) tokens (TOKEN_PUBLIC_KEY).") var tokenPublicKey: String?
    @Option(help: "Required iss claim of tokens; unset = not checked (TOKEN_ISSUER).") var tokenIssuer: String?
    @Option(help: "Required aud claim (string or array member) of tokens; unset = not checked (TOKEN_AUDIENCE).") var tokenAudience: String?
    @Option(help: "Clock skew in seconds allowed on exp and nbf (TOKEN_LEEWAY, default 30).") var tokenLeeway: Int?
    @Option(help: "Longest token lifetime accepted: exp at most this far beyond now and beyond iat (TOKEN_MAX_TTL, default 86400).") var tokenMaxTtl: Int?
    @Option(help: "Seconds before exp a WebSocket gets token_expiring (TOKEN_EXPIRY_NOTICE, default 60).") var tokenExpiryNotice: Int?

    @Option(help: "PEM certificate (leaf first, then intermediates); with --tls-key-file the port speaks HTTPS/WSS (TLS_CERT_FILE).") var tlsCertFile: String?
    @Option(help: "PEM private key (unencrypted) of the certificate (TLS_KEY_FILE). SIGHUP reloads both.") var tlsKeyFile: String?
    @Option(help: "Seconds a client has to finish the TLS handshake (TLS_HANDSHAKE_TIMEOUT, default 10).") var tlsHandshakeTimeout: Int?
    @Option(help: "Strict-Transport-Security max-age sent on native TLS; 0 = not sent (TLS_HSTS_SECONDS, default 0).") var tlsHstsSeconds: Int?

    /// Every setting, one line each: flag > environment > `.env` > default, converted and
    /// range-checked; `s` records the source of each (`--print-config`).
    func resolve(_ s: SettingSource) throws -> Configuration {
        var c = Configuration()
        s.string(host, "HOST", into: &c.host)
        guard Configuration.isNumericAddress(c.host) else {
            throw Configuration.Invalid(description: "HOST must be a numeric IPv4 or IPv6 address (such as 0.0.0.0, 127.0.0.1 or ::), got '\(c.host)'")
        }
        try s.int(port, "PORT", range: 0...65535, into: &c.port)
        s.optionalString(redisUrl, "REDIS_URL", into: &c.redisURL)
        s.string(redisPrefix, "REDIS_PREFIX", into: &c.redisPrefix)
        s.optionalString(redisSentinels, "REDIS_SENTINELS", into: &c.redisSentinels)
        s.optionalString(redisSentinelMaster, "REDIS_SENTINEL_MASTER", into: &c.redisSentinelMaster)
        s.optionalString(redisSentinelPassword, "REDIS_SENTINEL_PASSWORD", into: &c.redisSentinelPassword)
        try s.int(redisMinReplicas, "REDIS_MIN_REPLICAS", range: 0...64, unit: "replicas", into: &c.redisMinReplicas)
        try s.int(redisReplicaTimeout, "REDIS_REPLICA_TIMEOUT", range: 1...60_000, unit: "milliseconds", into: &c.redisReplicaTimeout)
        s.string(redisChannelMode, "REDIS_CHANNEL_MODE", into: &c.redisChannelMode)
        s.string(redisChannelBatch, "REDIS_CHANNEL_BATCH", into: &c.redisChannelBatch)
        s.optionalString(redisClusterNodes, "REDIS_CLUSTER_NODES", into: &c.redisClusterNodes)
        try s.bool(redisClusterClassicChannel, "REDIS_CLUSTER_CLASSIC_CHANNEL", into: &c.redisClusterClassicChannel)
        if c.redisClusterNodes != nil, c.redisSentinels != nil {
            throw Configuration.Invalid(description: "REDIS_CLUSTER_NODES and REDIS_SENTINELS exclude each other: Redis Cluster fails over by itself")
        }
        if let url = c.redisURL, url.contains(","), c.redisClusterNodes != nil {
            throw Configuration.Invalid(description: "with REDIS_CLUSTER_NODES, REDIS_URL gives only scheme, user and password: one URL, not a shard list")
        }
        s.optionalString(redisTlsCaFile, "REDIS_TLS_CA_FILE", into: &c.redisTLSCAFile)
        s.optionalString(redisTlsServerName, "REDIS_TLS_SERVER_NAME", into: &c.redisTLSServerName)
        s.optionalString(redisTlsCertFile, "REDIS_TLS_CERT_FILE", into: &c.redisTLSCertFile)
        s.optionalString(redisTlsKeyFile, "REDIS_TLS_KEY_FILE", into: &c.redisTLSKeyFile)
        c.redisChannelMode = c.redisChannelMode.lowercased()
        guard ["shared", "session"].contains(c.redisChannelMode) else {
            throw Configuration.Invalid(description: "REDIS_CHANNEL_MODE must be shared or session")
        }
        c.redisChannelBatch = c.redisChannelBatch.lowercased()
        guard ["on", "off"].contains(c.redisChannelBatch) else {
            throw Configuration.Invalid(description: "REDIS_CHANNEL_BATCH must be on or off")
        }
        if (c.redisSentinels == nil) != (c.redisSentinelMaster == nil) {
            throw Configuration.Invalid(description: "REDIS_SENTINELS and REDIS_SENTINEL_MASTER go together")
        }
        s.string(logLevel, "LOG_LEVEL", into: &c.logLevel)
        s.string(logFormat, "LOG_FORMAT", into: &c.logFormat)
        s.optionalString(apiKey, "API_KEY", "AFW_API_KEY", into: &c.apiKey)
        if s.givenEmpty(apiKey, ["API_KEY", "AFW_API_KEY"]) {
            throw Configuration.Invalid(description: "API_KEY is set but empty: set a key of at least \(Configuration.minimumAPIKeyBytes) bytes, or unset API_KEY to turn authentication off")
        }
        if let key = c.apiKey, key.utf8.count < Configuration.minimumAPIKeyBytes {
            throw Configuration.Invalid(description: "API_KEY must be at least \(Configuration.minimumAPIKeyBytes) bytes, got \(key.utf8.count) (e.g. openssl rand -hex 32)")
        }
        var origins: String?
        s.optionalString(allowedOrigins, "ALLOWED_ORIGINS", into: &origins)
        c.allowedOrigins = origins.map { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty } }
        if let origins, c.allowedOrigins?.isEmpty == true {
            throw Configuration.Invalid(description: "ALLOWED_ORIGINS lists no origin (got '\(origins)'), which would refuse every browser; unset it to allow any origin")
        }
        try s.int(sessionTtl, "SESSION_TTL", range: 1...31_536_000, unit: "seconds", into: &c.sessionTTL)
        try s.int(queueTtl, "QUEUE_TTL", range: 1...31_536_000, unit: "seconds", into: &c.queueTTL)
        try s.int(historyLimit, "HISTORY_LIMIT", range: 1...10_000_000, unit: "events", into: &c.historyLimit)
        try s.int(memoryStoreMaxBytes, "MEMORY_STORE_MAX_BYTES", range: (1 << 20)...MachineMemory.maxBudgetBytes, unit: "bytes",
                  into: &c.memoryStoreMaxBytes)
        s.string(memoryStoreEviction, "MEMORY_STORE_EVICTION", into: &c.memoryStoreEviction)
        c.memoryStoreEviction = c.memoryStoreEviction.lowercased()
        guard ["on", "off"].contains(c.memoryStoreEviction) else {
            throw Configuration.Invalid(description: "MEMORY_STORE_EVICTION must be on or off")
        }
        try s.int(maxBodyBytes, "MAX_BODY_BYTES", range: 1024...(1 << 30), unit: "bytes", into: &c.maxBodyBytes)
        try s.int(maxMessageBytes, "MAX_MESSAGE_BYTES", range: 1024...(1 << 30), unit: "bytes", into: &c.maxMessageBytes)
        s.string(wsCompression, "WS_COMPRESSION", into: &c.wsCompression)
        c.wsCompression = c.wsCompression.lowercased()
        guard ["shared", "off"].contains(c.wsCompression) else {
            throw Configuration.Invalid(description: "WS_COMPRESSION must be shared or off")
        }
        try s.int(wsCompressionMinBytes, "WS_COMPRESSION_MIN_BYTES", range: 0...(1 << 30), unit: "bytes", into: &c.wsCompressionMinBytes)
        try s.int(sendQueueBytes, "SEND_QUEUE_BYTES", range: 4096...(1 << 32), unit: "bytes", into: &c.sendQueueBytes)
        try s.int(maxConnections, "MAX_CONNECTIONS", range: 1...10_000_000, unit: "connections", into: &c.maxConnections)
        try s.int(heartbeatSeconds, "HEARTBEAT_SECONDS", range: 0...86400, unit: "seconds, 0 = off", into: &c.heartbeatSeconds)
        try s.int(shutdownTimeout, "SHUTDOWN_TIMEOUT", range: 1...3600, unit: "seconds", into: &c.shutdownTimeout)
        try s.int(threads, "THREADS", range: 1...256, unit: "event-loop threads", into: &c.threads)
        try s.bool(metricsPublic, "METRICS_PUBLIC", into: &c.metricsPublic)
        try s.double(rateLimit, "RATE_LIMIT", range: 0.001...1_000_000, unit: "requests per second", zero: "off", into: &c.rateLimit)
        try s.double(rateBurst, "RATE_BURST", range: 1...1_000_000, unit: "requests", zero: "= RATE_LIMIT", into: &c.rateBurst)
        try s.double(wsRateLimit, "WS_RATE_LIMIT", range: 0.001...1_000_000, unit: "messages per second", zero: "off", into: &c.wsRateLimit)
        try s.int(headerTimeout, "HEADER_TIMEOUT", range: 1...3600, unit: "seconds", into: &c.headerTimeout)
        try s.int(idleTimeout, "IDLE_TIMEOUT", range: 1...86400, unit: "seconds", into: &c.idleTimeout)
        s.optionalString(instanceId, "INSTANCE_ID", into: &c.instanceId)
        try s.int(idempotencyTtl, "IDEMPOTENCY_TTL", range: 1...604_800, unit: "seconds", into: &c.idempotencyTTL)
        try s.int(presenceTtl, "PRESENCE_TTL", range: 3...3600, unit: "seconds", into: &c.presenceTTL)
        try s.int(maxSubscriptionsPerConnection, "MAX_SUBSCRIPTIONS_PER_CONNECTION", range: 1...1_000_000, unit: "subscriptions", into: &c.maxSubscriptionsPerConnection)
        try s.int(maxQueueLength, "MAX_QUEUE_LENGTH", range: 1...10_000_000, unit: "items", into: &c.maxQueueLength)
        try s.double(authFailureRate, "AUTH_FAILURE_RATE", range: 0.001...1000, unit: "failures per second", into: &c.authFailureRate)
        try s.double(authFailureBurst, "AUTH_FAILURE_BURST", range: 1...100_000, unit: "failures", into: &c.authFailureBurst)
        try s.bool(echoEndpoint, "ECHO_ENDPOINT", into: &c.echoEndpoint)
        var proxies: String?
        s.optionalString(trustedProxies, "TRUSTED_PROXIES", into: &proxies)
        do {
            c.trustedProxies = try TrustedProxies(parsing: proxies ?? "")
        } catch {
            throw Configuration.Invalid(description: error.description)
        }
        s.optionalString(tokenSecret, "TOKEN_SECRET", into: &c.tokenSecret)
        s.optionalString(tokenPublicKey, "TOKEN_PUBLIC_KEY", into: &c.tokenPublicKey)
        s.optionalString(tokenIssuer, "TOKEN_ISSUER", into: &c.tokenIssuer)
        s.optionalString(tokenAudience, "TOKEN_AUDIENCE", into: &c.tokenAudience)
        try s.int(tokenLeeway, "TOKEN_LEEWAY", range: 0...3600, unit: "seconds", into: &c.tokenLeeway)
        try s.int(tokenExpiryNotice, "TOKEN_EXPIRY_NOTICE", range: 0...86400, unit: "seconds", into: &c.tokenExpiryNotice)
        try s.int(tokenMaxTtl, "TOKEN_MAX_TTL", range: 60...31_536_000, unit: "seconds", into: &c.tokenMaxTTL)
        s.optionalString(tlsCertFile, "TLS_CERT_FILE", into: &c.tlsCertFile)
        s.optionalString(tlsKeyFile, "TLS_KEY_FILE", into: &c.tlsKeyFile)
        try s.int(tlsHandshakeTimeout, "TLS_HANDSHAKE_TIMEOUT", range: 1...300, unit: "seconds", into: &c.tlsHandshakeTimeout)
        try s.int(tlsHstsSeconds, "TLS_HSTS_SECONDS", range: 0...63_072_000, unit: "seconds, 0 = not sent", into: &c.tlsHSTSSeconds)
        if c.tlsHSTSSeconds > 0 && c.tlsCertFile == nil {
            throw Configuration.Invalid(description: "TLS_HSTS_SECONDS needs native TLS (TLS_CERT_FILE and TLS_KEY_FILE); behind a TLS proxy, send the header from the proxy")
        }
        guard ["trace", "debug", "info", "notice", "warning", "error", "critical"].contains(c.logLevel.lowercased()) else {
            throw Configuration.Invalid(description: "LOG_LEVEL must be one of trace, debug, info, notice, warning, error, critical")
        }
        guard ["text", "json"].contains(c.logFormat.lowercased()) else {
            throw Configuration.Invalid(description: "LOG_FORMAT must be text or json")
        }
        return c
    }

    /// The settings of this start: `.env` read strictly (a malformed line or an unknown name
    /// stops it), then everything resolved and the token and TLS files checked.
    func settings() throws -> (Configuration, SettingSource, TokenSettings?, TLSContext?, TLSClientContext?) {
        do {
            let dotEnv = try DotEnv.load(path: ".env")
            try dotEnv.check(known: try Self.knownNames())
            let source = SettingSource(environment: ProcessInfo.processInfo.environment, dotEnv: dotEnv.values)
            let configuration = try resolve(source)
            return (configuration, source, try configuration.tokenSettings(), try configuration.tlsContext(),
                    try configuration.redisTLSContext())
        } catch let invalid as Configuration.Invalid {
            throw invalid
        } catch {
            throw Configuration.Invalid(description: "\(error)")
        }
    }

    /// Every variable name `resolve` looks up (aliases too): a dry run on defaults alone.
    static func knownNames() throws -> Set<String> {
        let source = SettingSource(environment: [:], dotEnv: [:], useFlags: false)
        _ = try Serve.parse([]).resolve(source)
        return source.names
    }

    func run() throws {
        let (configuration, source, tokens, tls, redisTLS) = try settings()
        if printConfig {
            let width = (source.resolved.map(\.name.count).max() ?? 0) + 2
            for setting in source.resolved {
                let name = setting.name.padding(toLength: width, withPad: " ", startingAt: 0)
                print(name + setting.origin.rawValue.padding(toLength: 9, withPad: " ", startingAt: 0) + setting.value)
            }
            return
        }
        try App(configuration: configuration, tokens: tokens, tls: tls, redisTLS: redisTLS).run()
    }
}

/// Prints one of the Lua scripts the Redis store runs, e.g. for `redis-cli SCRIPT LOAD` or
/// `redis-benchmark` (`Scripts/bench.py redis` uses it to time the append script directly).
struct RedisScriptCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "redis-script", abstract: "Print a Lua script of the Redis store.")

    @Argument(help: "One of: \(RedisScript.allCases.map(\.rawValue).joined(separator: ", ")).") var name: String

    func run() throws {
        guard let script = RedisScript(rawValue: name) else { throw ValidationError("unknown script \(name)") }
        print(script.source)
    }
}
