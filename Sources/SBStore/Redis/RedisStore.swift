public import Logging
import SBCore
public import SBEventLoop
public import SBRedis

/// The shared store: one instance per event loop, each with its own pipelined `RedisConnection`
/// on that loop, so completions come back on the calling thread with no locks or hops.
///
/// Every call completes exactly once. Anything short of a reply from Redis (not connected,
/// connection lost, timeout, or an error reply) is `.unavailable`, which the hub answers with
/// 503 + Retry-After: nothing is ever reported stored that Redis did not confirm.
///
/// Confinement: all calls on `loop`. `@unchecked Sendable` only so the wiring can hop here with
/// `loop.execute { store.start() }`; `isAvailable` is safe from any thread.
public final class RedisStore: Store, @unchecked Sendable {
    public let kind = StorageKind.redis
    public let connection: RedisConnection
    let keys: RedisKeys
    let settings: StoreSettings
    let logger: Logger

    public init(loop: EventLoop, url: RedisURL, prefix: String, settings: StoreSettings, logger: Logger,
                commandTimeout: Duration = .seconds(2)) {
        connection = RedisConnection(loop: loop, url: url, logger: logger, scripts: RedisScript.allCases.map(\.lua),
                                     commandTimeout: commandTimeout)
        keys = RedisKeys(prefix: prefix)
        self.settings = settings
        self.logger = logger
    }

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
