import Logging
import SBEventLoop
import SBHub
import SBRedis
import SBStore

/// Chooses and owns the store: the embedded MemoryStore, or, with REDIS_URL, one RedisStore per
/// event loop plus the instance's event feed (the Pub/Sub subscription) on loop 0.
final class StorageWiring: @unchecked Sendable {
    let kind: StorageKind
    private let group: EventLoopGroup
    private let memory: MemoryStore?
    private let redisStores: [RedisStore]
    private let redisURL: RedisURL?
    private let prefix: String
    private let logger: Logger
    private var feed: RedisEventFeed?

    private init(kind: StorageKind, group: EventLoopGroup, memory: MemoryStore?, redisStores: [RedisStore],
                 redisURL: RedisURL?, prefix: String, logger: Logger) {
        self.kind = kind
        self.group = group
        self.memory = memory
        self.redisStores = redisStores
        self.redisURL = redisURL
        self.prefix = prefix
        self.logger = logger
    }

    static func make(configuration: Configuration, settings: StoreSettings, group: EventLoopGroup, logger: Logger) throws -> StorageWiring {
        guard let text = configuration.redisURL else {
            return StorageWiring(kind: .memory, group: group, memory: MemoryStore(settings: settings), redisStores: [],
                                 redisURL: nil, prefix: configuration.redisPrefix, logger: logger)
        }
        let url: RedisURL
        do {
            url = try RedisURL(parsing: text).resolved()
        } catch {
            throw Configuration.Invalid(description: "\(error)")
        }
        let stores = group.loops.map { RedisStore(loop: $0, url: url, prefix: configuration.redisPrefix, settings: settings, logger: logger) }
        return StorageWiring(kind: .redis, group: group, memory: nil, redisStores: stores, redisURL: url,
                             prefix: configuration.redisPrefix, logger: logger)
    }

    func storeFor(_ loop: EventLoop) -> any Store {
        if let memory { return memory }
        return redisStores[loop.index]
    }

    func connect(_ hub: Hub) {
        memory?.setListener(hub)
        if let redisURL {
            feed = RedisEventFeed(loop: group.loops[0], url: redisURL, prefix: prefix, logger: logger, listener: hub)
        }
    }

    /// True while cross-instance delivery works: always for memory; with Redis, while the
    /// instance's Pub/Sub subscription is in place (any thread).
    var busIsUp: Bool { feed?.isSubscribed ?? (memory != nil) }

    /// Starts connections, each on its own loop, and the memory store's expiry sweep.
    func start() {
        if let memory {
            group.loops[0].execute { [group] in
                group.loops[0].scheduleRepeating(every: .seconds(1)) { memory.sweepExpired() }
            }
        }
        for store in redisStores {
            store.connection.loop.execute { store.start() }
        }
        if let feed {
            group.loops[0].execute { feed.start() }
        }
    }

    /// Shutdown: close Redis connections cleanly (QUIT-equivalent via redisAsyncDisconnect).
    func close() {
        for store in redisStores {
            store.connection.loop.execute { store.close() }
        }
        if let feed {
            group.loops[0].execute { feed.close() }
        }
    }
}
