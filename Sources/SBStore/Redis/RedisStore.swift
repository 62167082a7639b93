public import Logging
import Synchronization
import SBCore
public import SBEventLoop
public import SBRedis

/// The shared store: one instance per event loop, each with its own pipelined `RedisConnection`
/// on that loop (or, on Redis Cluster, its own `RedisCluster`: one connection per master), so
/// completions come back on the calling thread with no locks or hops.
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
    /// Where commands go: a `RedisConnection`, or a `RedisCluster`.
    public let runner: any RedisCommandRunner
    /// The connection, when not on Cluster.
    public var connection: RedisConnection? { runner as? RedisConnection }
    let keys: RedisKeys
    /// Redis Cluster: the key layout with hash tags, sharded Pub/Sub, and the steps that span
    /// slots as separate commands.
    var clustered: Bool { keys.layout == .cluster }
    /// Publish to the classic `P events` channel (always, except on Cluster without
    /// REDIS_CLUSTER_CLASSIC_CHANNEL).
    let classicChannel: Bool
    let settings: StoreSettings
    let logger: Logger
    let replicas: ReplicaAcknowledgement
    /// REDIS_CHANNEL_MODE=session: every message also goes to the session's own channel.
    let sessionChannels: Bool
    /// REDIS_CHANNEL_BATCH: one channel message per session of an append script call (on),
    /// or one per event (off: what the old backend's consumers of `P events` read).
    let channelBatch: Bool
    /// Appends waiting for the WAIT in flight on each master (see `waitForReplicas`); one
    /// entry ("") when not on Cluster.
    var replicaWaiters: [String: [(Result<Int64, StoreError>) -> Void]] = [:]
    /// Group commit: the appends queued this loop turn, and whether their commit is scheduled.
    var queuedAppends: [(events: [NewEvent], done: (Result<[AppendedEvent], StoreError>) -> Void)] = []
    var appendCommitScheduled = false
    /// Which sessions' lifetimes the next append script call refreshes (see the type).
    lazy var lifetimeRefreshes = LifetimeRefreshSchedule(sessionTTLSeconds: settings.sessionTTLSeconds)
    /// How many appends went out together (the group commit's effect), for tests and metrics.
    public let appendCommitBatches = AppendBatchCounter()

    public init(loop: EventLoop, url: RedisURL, prefix: String, settings: StoreSettings, logger: Logger,
                commandTimeout: Duration = .seconds(2), sentinel: SentinelSettings? = nil,
                resolver: any RedisResolver = ThreadResolver(), replicas: ReplicaAcknowledgement = .none,
                sessionChannels: Bool = false, channelBatch: Bool = true) {
        runner = RedisConnection(loop: loop, url: url, logger: logger, scripts: RedisScript.allCases.map(\.lua),
                                 commandTimeout: Self.commandTimeout(commandTimeout, replicas), sentinel: sentinel, resolver: resolver)
        keys = RedisKeys(prefix: prefix)
        self.settings = settings
        self.logger = logger
        self.replicas = replicas
        self.sessionChannels = sessionChannels
        self.channelBatch = channelBatch
        classicChannel = true
    }

    /// Redis Cluster (`REDIS_CLUSTER_NODES`): `url` gives only the scheme, user and password.
    /// Sessions' channels are shard channels; `classicChannel` also publishes every message to
    /// `P events` (REDIS_CLUSTER_CLASSIC_CHANNEL, for old consumers: Redis sends it to every node).
    public init(loop: EventLoop, clusterSeeds: [RedisAddress], url: RedisURL, prefix: String, settings: StoreSettings, logger: Logger,
                commandTimeout: Duration = .seconds(2), replicas: ReplicaAcknowledgement = .none, classicChannel: Bool = false,
                channelBatch: Bool = true) {
        runner = RedisCluster(loop: loop, seeds: clusterSeeds, url: url, logger: logger, scripts: RedisScript.allCases.map(\.lua),
                              commandTimeout: Self.commandTimeout(commandTimeout, replicas))
        keys = RedisKeys(prefix: prefix, layout: .cluster)
        self.settings = settings
        self.logger = logger
        self.replicas = replicas
        sessionChannels = true
        self.channelBatch = channelBatch
        self.classicChannel = classicChannel
    }

    /// The command timeout grows with the replica timeout: a WAIT holds the connection's later
    /// replies back for up to that long.
    static func commandTimeout(_ configured: Duration, _ replicas: ReplicaAcknowledgement) -> Duration {
        max(configured, .milliseconds(replicas.timeoutMilliseconds) + .seconds(1))
    }

    /// The session's own channel in session mode and on Cluster, else "" (the scripts skip it).
    func sessionChannel(_ sessionId: String) -> String { sessionChannels ? keys.sessionChannel(sessionId) : "" }
    /// The classic channel, or "" when it is not published to (the scripts skip it).
    var channel: String { classicChannel ? keys.channel : "" }
    /// How messages reach a session's channel: SPUBLISH to a shard channel on Cluster.
    var sessionPublish: String { clustered ? "SPUBLISH" : "PUBLISH" }

    public var loop: EventLoop { runner.loop }

    /// Connected, authenticated and scripts loaded (Cluster: every slot has a master). Any thread.
    public var isAvailable: Bool { runner.isReady }

    /// Starts connecting (and reconnecting forever). Loop thread.
    public func start() { runner.start() }

    /// Closes the connection gracefully (pending replies still arrive). Loop thread.
    public func close() { runner.close() }

    // MARK: Helpers shared by the extensions

    func run(_ script: RedisScript, keys: [String], arguments: RedisArguments,
             _ done: @escaping (Result<RedisReply, StoreError>) -> Void) {
        runner.evalSHA(script.lua, keys: keys, arguments: arguments) { done(Self.map($0)) }
    }

    /// A plain command; on Cluster it goes to the master of `routedBy`'s slot.
    func command(_ arguments: RedisArguments, routedBy key: String? = nil, _ done: @escaping (Result<RedisReply, StoreError>) -> Void) {
        runner.send(arguments, routedBy: key) { done(Self.map($0)) }
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

/// Counts the script calls that carried more than one request, and their events. Any thread.
public final class AppendBatchCounter: Sendable {
    private let calls = Atomic<Int>(0)
    private let events = Atomic<Int>(0)

    func increment(_ eventCount: Int) {
        calls.add(1, ordering: .relaxed)
        events.add(eventCount, ordering: .relaxed)
    }

    /// (script calls that grouped several requests, the events they carried)
    public var grouped: (calls: Int, events: Int) { (calls.load(ordering: .relaxed), events.load(ordering: .relaxed)) }
}
