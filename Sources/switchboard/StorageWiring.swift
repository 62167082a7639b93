import Foundation
import Logging
import SBEventLoop
import SBHub
import SBRedis
import SBStore

/// Chooses and owns the store: the embedded MemoryStore, or, with Redis, per event loop one
/// RedisStore per shard (a `ShardedRedisStore` over them when there are several), plus one
/// event feed (Pub/Sub subscription) per shard, spread over the loops.
final class StorageWiring: @unchecked Sendable {
    let kind: StorageKind
    private let group: EventLoopGroup
    private let memory: MemoryStore?
    /// Per loop: the store its requests use.
    private let loopStores: [any Store]
    /// Every RedisStore, for start and close.
    private let redisStores: [RedisStore]
    private let shards: [RedisShard]
    private let prefix: String
    private let sessionChannels: Bool
    private let logger: Logger
    private var feeds: [RedisEventFeed] = []
    /// Redis Cluster: the seed nodes, the URL giving scheme and credentials, and the instance's
    /// sharded Pub/Sub feed.
    private let cluster: (seeds: [RedisAddress], url: RedisURL)?
    private var clusterFeed: ClusterEventFeed?
    /// With Sentinel: one subscription to `+switch-master` per sentinel.
    private var sentinelWatches: [RedisSubscriber] = []

    /// One shard: where its master is found, and the credentials/database to use there.
    struct RedisShard {
        let url: RedisURL
        let sentinel: SentinelSettings?
    }

    private init(kind: StorageKind, group: EventLoopGroup, memory: MemoryStore?, loopStores: [any Store], redisStores: [RedisStore],
                 shards: [RedisShard], prefix: String, sessionChannels: Bool = false,
                 cluster: (seeds: [RedisAddress], url: RedisURL)? = nil, logger: Logger) {
        self.cluster = cluster
        self.kind = kind
        self.group = group
        self.memory = memory
        self.loopStores = loopStores
        self.redisStores = redisStores
        self.shards = shards
        self.prefix = prefix
        self.sessionChannels = sessionChannels
        self.logger = logger
    }

    static func make(configuration: Configuration, settings: StoreSettings, group: EventLoopGroup, redisTLS: RedisTLSSettings? = nil,
                     logger: Logger) throws -> StorageWiring {
        if let nodes = configuration.redisClusterNodes {
            return try makeCluster(nodes: nodes, configuration: configuration, settings: settings, group: group, redisTLS: redisTLS, logger: logger)
        }
        let shards = try redisShards(configuration, tls: redisTLS)
        guard !shards.isEmpty else {
            let budget = MemoryBudget(maxBytes: configuration.memoryStoreMaxBytes, evicts: configuration.memoryStoreEviction == "on")
            let memory = MemoryStore(settings: settings, budget: budget, logger: logger)
            logger.info("memory store: at most \(budget.maxBytes) bytes as counted (MEMORY_STORE_MAX_BYTES), then \(budget.evicts ? "the least recently written sessions without a subscriber are evicted" : "writes are refused with 507") (MEMORY_STORE_EVICTION=\(configuration.memoryStoreEviction))")
            return StorageWiring(kind: .memory, group: group, memory: memory, loopStores: group.loops.map { _ in memory },
                                 redisStores: [], shards: [], prefix: configuration.redisPrefix, logger: logger)
        }
        let replicas = ReplicaAcknowledgement(minReplicas: configuration.redisMinReplicas,
                                              timeoutMilliseconds: configuration.redisReplicaTimeout)
        let sessionChannels = configuration.redisChannelMode == "session"
        var all: [RedisStore] = []
        var loopStores: [any Store] = []
        for loop in group.loops {
            let stores = shards.map {
                RedisStore(loop: loop, url: $0.url, prefix: configuration.redisPrefix, settings: settings, logger: logger,
                           sentinel: $0.sentinel, replicas: replicas, sessionChannels: sessionChannels,
                           channelBatch: configuration.redisChannelBatch == "on")
            }
            all += stores
            loopStores.append(stores.count == 1 ? stores[0] : ShardedRedisStore(shards: stores))
        }
        if shards.count > 1 {
            logger.info("redis sharding: \(shards.count) shards, sessions placed by jump hash of their id")
        }
        if sessionChannels {
            logger.info("redis channel mode: session (each instance subscribes only to the sessions its clients watch; events still go to \(configuration.redisPrefix)events too)")
        }
        return StorageWiring(kind: .redis, group: group, memory: nil, loopStores: loopStores, redisStores: all,
                             shards: shards, prefix: configuration.redisPrefix, sessionChannels: sessionChannels, logger: logger)
    }

    /// REDIS_CLUSTER_NODES: per loop one RedisStore over its own RedisCluster (one connection
    /// per master), and one sharded Pub/Sub feed for the instance.
    private static func makeCluster(nodes: String, configuration: Configuration, settings: StoreSettings, group: EventLoopGroup,
                                    redisTLS: RedisTLSSettings?, logger: Logger) throws -> StorageWiring {
        let seeds: [RedisAddress]
        var url: RedisURL
        do {
            seeds = try SentinelSettings.parseAddresses(nodes, setting: "REDIS_CLUSTER_NODES", defaultPort: 6379)
            url = try configuration.redisURL.map { try RedisURL(parsing: $0.trimmingCharacters(in: .whitespaces)) } ?? RedisURL()
        } catch {
            throw Configuration.Invalid(description: "\(error)")
        }
        guard !seeds.isEmpty else { throw Configuration.Invalid(description: "REDIS_CLUSTER_NODES lists no node") }
        guard url.db == 0 else { throw Configuration.Invalid(description: "Redis Cluster has only database 0: REDIS_URL must not select another") }
        if url.usesTLS { url.tls = redisTLS }
        let replicas = ReplicaAcknowledgement(minReplicas: configuration.redisMinReplicas,
                                              timeoutMilliseconds: configuration.redisReplicaTimeout)
        let stores = group.loops.map {
            RedisStore(loop: $0, clusterSeeds: seeds, url: url, prefix: configuration.redisPrefix, settings: settings, logger: logger,
                       replicas: replicas, classicChannel: configuration.redisClusterClassicChannel,
                       channelBatch: configuration.redisChannelBatch == "on")
        }
        logger.info("redis cluster: \(seeds.count) seed node(s); sessions by hash slot, sharded Pub/Sub on their channels\(configuration.redisClusterClassicChannel ? ", and every message also on \(configuration.redisPrefix)events" : "")")
        return StorageWiring(kind: .redis, group: group, memory: nil, loopStores: stores, redisStores: stores, shards: [],
                             prefix: configuration.redisPrefix, sessionChannels: true, cluster: (seeds, url), logger: logger)
    }

    /// REDIS_URL (a comma list = shards) or, with REDIS_SENTINELS, one shard per name in
    /// REDIS_SENTINEL_MASTER (REDIS_URL then gives only credentials and database, and with
    /// `rediss://` makes sentinels, masters and replicas all TLS). Host names
    /// are not resolved here: every connection resolves them again on each reconnect.
    static func redisShards(_ configuration: Configuration, tls: RedisTLSSettings? = nil) throws -> [RedisShard] {
        do {
            let urls = try (configuration.redisURL ?? "").split(separator: ",")
                .map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
                .map { text throws(RedisURL.Invalid) in
                    var url = try RedisURL(parsing: text)
                    if url.usesTLS { url.tls = tls }
                    return url
                }
            guard let sentinels = configuration.redisSentinels, let masters = configuration.redisSentinelMaster else {
                return urls.map { RedisShard(url: $0, sentinel: nil) }
            }
            guard urls.count <= 1 else {
                throw Configuration.Invalid(description: "with REDIS_SENTINELS, REDIS_URL gives only credentials and database: one URL, not a list (list shards in REDIS_SENTINEL_MASTER)")
            }
            let addresses = try SentinelSettings.parseAddresses(sentinels)
            let names = masters.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            guard !names.isEmpty else { throw Configuration.Invalid(description: "REDIS_SENTINEL_MASTER is empty") }
            return names.map {
                RedisShard(url: urls.first ?? RedisURL(),
                           sentinel: SentinelSettings(sentinels: addresses, masterName: $0, password: configuration.redisSentinelPassword,
                                                      tls: urls.first?.usesTLS == true ? tls : nil))
            }
        } catch {
            throw Configuration.Invalid(description: "\(error)")
        }
    }

    func storeFor(_ loop: EventLoop) -> any Store { loopStores[loop.index] }

    /// What `/ready` needs on every loop, whichever answers: each loop's store reachable and
    /// the bus up. Any thread.
    var isReadyOnEveryLoop: Bool { busIsUp && loopStores.allSatisfy(\.isAvailable) }

    func connect(_ hub: Hub) {
        memory?.setListener(hub)
        if let cluster {
            let feed = ClusterEventFeed(loop: group.loops[0], seeds: cluster.seeds, url: cluster.url, prefix: prefix,
                                        logger: logger, listener: hub)
            clusterFeed = feed
            hub.observeInterest { [weak hub] sessionId in
                guard let hub else { return }
                feed.loop.execute {
                    if hub.isInterested(in: sessionId) {
                        feed.watch(sessionId: sessionId)
                    } else {
                        feed.unwatch(sessionId: sessionId)
                    }
                }
            }
            return
        }
        feeds = shards.enumerated().map { index, shard in
            RedisEventFeed(loop: group.loops[index % group.loops.count], url: shard.url, sentinel: shard.sentinel,
                           prefix: prefix, logger: logger, listener: hub, sessionChannels: sessionChannels)
        }
        if sessionChannels {
            // A session's channel is on its shard; whichever loop saw the change, the feed's own
            // loop reads the current interest and holds or lets go of the channel.
            let feeds = self.feeds
            let router = ShardRouter(count: feeds.count)
            hub.observeInterest { [weak hub] sessionId in
                guard let hub else { return }
                let feed = feeds[router.shard(of: sessionId)]
                feed.loop.execute {
                    if hub.isInterested(in: sessionId) {
                        feed.watch(sessionId: sessionId)
                    } else {
                        feed.unwatch(sessionId: sessionId)
                    }
                }
            }
        }
        watchSwitchMaster()
    }

    /// `+switch-master <name> <old ip> <old port> <new ip> <new port>` from any sentinel makes
    /// every connection of that master check at once (off the loop) where the master is. Only a
    /// hint: connections also check on their own timer, and a sentinel may be unreachable.
    private func watchSwitchMaster() {
        guard let first = shards.first?.sentinel else { return }
        let connections = redisStores.compactMap(\.connection) + feeds.map(\.subscriber.connection)
        let logger = self.logger
        sentinelWatches = first.sentinels.enumerated().map { index, sentinel in
            RedisSubscriber(
                loop: group.loops[index % group.loops.count],
                url: RedisURL(host: sentinel.host, port: sentinel.port, password: first.password,
                              usesTLS: first.tls != nil, tls: first.tls),
                channel: "+switch-master", logger: logger,
                onMessage: { payload in
                    let name = String(decoding: payload.prefix { $0 != UInt8(ascii: " ") }, as: UTF8.self)
                    logger.info("sentinel announced +switch-master", metadata: ["announcement": "\(String(decoding: payload, as: UTF8.self))"])
                    for connection in connections {
                        guard case .sentinel(let settings) = connection.endpoint, settings.masterName == name else { continue }
                        connection.loop.execute { connection.masterMayHaveMoved() }
                    }
                },
                onResubscribed: {})
        }
    }

    /// True while cross-instance delivery works: always for memory; with Redis, while the
    /// Pub/Sub subscription of some shard is in place (a down shard fails only its own
    /// sessions, so it must not take the instance out of the balancer). Any thread.
    var busIsUp: Bool { memory != nil || feeds.contains { $0.isSubscribed } || clusterFeed?.isSubscribed == true }

    /// Starts connections, each on its own loop, and the memory store's expiry sweep.
    func start() {
        if let memory {
            group.loops[0].execute { [group] in
                group.loops[0].scheduleRepeating(every: .seconds(1)) { memory.sweepExpired() }
            }
        }
        for store in redisStores {
            store.loop.execute { store.start() }
        }
        for feed in feeds {
            feed.loop.execute { feed.start() }
        }
        if let clusterFeed {
            clusterFeed.loop.execute { clusterFeed.start() }
        }
        for watch in sentinelWatches {
            watch.connection.loop.execute { watch.start() }
        }
    }

    /// Shutdown: close Redis connections cleanly (replies still pending arrive, then each socket closes).
    func close() {
        for store in redisStores {
            store.loop.execute { store.close() }
        }
        for feed in feeds {
            feed.loop.execute { feed.close() }
        }
        if let clusterFeed {
            clusterFeed.loop.execute { clusterFeed.close() }
        }
        for watch in sentinelWatches {
            watch.connection.loop.execute { watch.close() }
        }
    }
}
