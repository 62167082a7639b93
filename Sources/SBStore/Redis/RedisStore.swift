public import Logging
import SBCore
public import SBEventLoop
public import SBRedis

/// The shared store: one instance per event loop, each with its own pipelined `RedisConnection`
/// on that loop, so completions come back on the calling thread with no locks or hops.
///
/// Every call completes exactly once. Anything short of a reply from Redis (not connected,
/// connection lost, timeout, or an error reply) is `.unavailable`, which the hub answers with
/// 503 + Retry-After: nothing is ever reported stored that Redis did not confirm. The one
/// exception is Redis refusing a write over `maxmemory`: `.outOfMemory` (507).
///
/// Confinement: all calls on `loop`. `@unchecked Sendable` only so the wiring can hop here with
/// `loop.execute { store.start() }`; `isAvailable` is safe from any thread.
public final class RedisStore: Store, @unchecked Sendable {
    public let kind = StorageKind.redis
    public let connection: RedisConnection
    let keys: RedisKeys
    let settings: StoreSettings
    let logger: Logger
    let replicas: ReplicaAcknowledgement
    /// REDIS_CHANNEL_MODE=session: every message also goes to the session's own channel.
    let sessionChannels: Bool
    /// Appends waiting for the WAIT in flight (see `waitForReplicas`); nil when none is.
    var replicaWaiters: [(Result<Int64, StoreError>) -> Void]?

    /// The command timeout grows with `replicas.timeoutMilliseconds`: a WAIT holds the
    /// connection's later replies back for up to that long.
    public init(loop: EventLoop, url: RedisURL, prefix: String, settings: StoreSettings, logger: Logger,
                commandTimeout: Duration = .seconds(2), sentinel: SentinelSettings? = nil,
                resolver: any RedisResolver = ThreadResolver(), replicas: ReplicaAcknowledgement = .none,
                sessionChannels: Bool = false) {
        let timeout = max(commandTimeout, .milliseconds(replicas.timeoutMilliseconds) + .seconds(1))
        connection = RedisConnection(loop: loop, url: url, logger: logger, scripts: RedisScript.allCases.map(\.lua),
                                     commandTimeout: timeout, sentinel: sentinel, resolver: resolver)
        keys = RedisKeys(prefix: prefix)
        self.settings = settings
        self.logger = logger
        self.replicas = replicas
        self.sessionChannels = sessionChannels
    }

    /// The session's own channel in session mode, else "" (the scripts skip it).
    func sessionChannel(_ sessionId: String) -> String { sessionChannels ? keys.sessionChannel(sessionId) : "" }

    public var loop: EventLoop { connection.loop }

    /// Connected, authenticated and scripts loaded. Any thread.
    public var isAvailable: Bool { connection.isReady }

    /// Starts connecting (and reconnecting forever). Loop thread.
    public func start() { connection.start() }

    /// Closes the connection gracefully (pending replies still arrive). Loop thread.
    public func close() { connection.close() }

    // MARK: Helpers shared by the extensions

    func run(_ script: RedisScript, keys: [String], arguments: RedisArguments,
             _ done: @escaping (Result<RedisReply, StoreError>) -> Void) {
        connection.evalSHA(script.lua, keys: keys, arguments: arguments) { done(Self.map($0)) }
    }

    func command(_ arguments: RedisArguments, _ done: @escaping (Result<RedisReply, StoreError>) -> Void) {
        connection.send(arguments) { done(Self.map($0)) }
    }

    static func map(_ result: Result<RedisReply, RedisError>) -> Result<RedisReply, StoreError> {
        switch result {
        // A script declared as writing (RedisScript.Flags) is refused whole, before it runs.
        case .success(.error(let message)) where message.hasPrefix("OOM"): .failure(.outOfMemory("Redis is out of memory (maxmemory): nothing was stored (\(message))"))
        case .success(.error(let message)): .failure(.unavailable("redis refused the command: \(message)"))
        case .success(let reply): .success(reply)
        case .failure(.unavailable): .failure(.unavailable("redis is not connected"))
        case .failure(.disconnected): .failure(.unavailable("redis connection lost before the reply"))
        case .failure(.timeout): .failure(.unavailable("redis did not answer in time"))
        }
    }

    var sessionTTL: Int { settings.sessionTTLSeconds }
    var queueTTL: Int { settings.queueTTLSeconds }
}

/// `REDIS_MIN_REPLICAS` / `REDIS_REPLICA_TIMEOUT`: how many replicas must confirm an append
/// (Redis `WAIT`) before it is answered 2xx, and how long to wait for them.
public struct ReplicaAcknowledgement: Sendable, Equatable {
    public var minReplicas: Int
    public var timeoutMilliseconds: Int

    public init(minReplicas: Int, timeoutMilliseconds: Int) {
        self.minReplicas = minReplicas
        self.timeoutMilliseconds = timeoutMilliseconds
    }

    public static let none = ReplicaAcknowledgement(minReplicas: 0, timeoutMilliseconds: 0)
}
