import SBCore
public import Logging
public import SBEventLoop
public import SBRedis

/// The instance's subscriptions on Redis Cluster (sharded Pub/Sub): each session its clients
/// watch is held with SSUBSCRIBE on its shard channel (`P{id}:channel`), at the master that
/// serves the channel's slot, over one subscriber connection per master. Each subscriber also
/// holds the classic heartbeat channel, which proves its connection alive.
///
/// Where the slot map changes (a slot migrated, a failover: Redis also sends `sunsubscribe`
/// for a moved channel, and a master's connection drops), every session whose master changed
/// is subscribed again at the new one; the confirmation refills it from history from each
/// subscriber's own position, so nothing published meanwhile is lost or delivered twice.
/// Subscribers of masters that left the map are closed once they hold nothing.
///
/// Confinement: `loop` (the feed's own loop; the wiring hops here for watch/unwatch).
public final class ClusterEventFeed: @unchecked Sendable {
    public let cluster: RedisCluster
    let keys: RedisKeys
    let url: RedisURL
    let logger: Logger
    let listener: any BusListener
    /// Per master: its subscriber connection.
    private var subscribers: [RedisAddress: RedisSubscriber] = [:]
    /// Per watched session: the master holding its channel, nil while no master is known.
    private var placed: [String: RedisAddress?] = [:]
    private var started = false

    public init(loop: EventLoop, seeds: [RedisAddress], url: RedisURL, prefix: String, logger: Logger, listener: any BusListener) {
        cluster = RedisCluster(loop: loop, seeds: seeds, url: url, logger: logger)
        keys = RedisKeys(prefix: prefix, layout: .cluster)
        self.url = url
        self.logger = logger
        self.listener = listener
    }

    public var loop: EventLoop { cluster.loop }

    /// The slot map is complete and every master holding a watched session has its
    /// subscription confirmed. Any thread.
    public var isSubscribed: Bool { cluster.isReady }

    public func start() {
        started = true
        cluster.onRefreshed = { [weak self] in self?.place() }
        cluster.start()
    }

    public func close() {
        started = false
        for subscriber in subscribers.values { subscriber.close() }
        subscribers = [:]
        cluster.close()
    }

    /// Hold the session's channel (idempotent). Loop thread.
    public func watch(sessionId: String) {
        guard placed[sessionId] == nil else { return }
        placed[sessionId] = .some(nil)
        place(sessionId)
    }

    /// Let the session's channel go (idempotent). Loop thread.
    public func unwatch(sessionId: String) {
        guard let master = placed.removeValue(forKey: sessionId) else { return }
        if let master { subscribers[master]?.unwatch(keys.sessionChannel(sessionId)) }
    }

    /// Every watched session to the master its slot has now.
    private func place() {
        for sessionId in Array(placed.keys) { place(sessionId) }
        // Masters that left the map and hold nothing: let their subscribers go.
        let used = Set(placed.values.compactMap { $0 })
        for (address, subscriber) in subscribers where !used.contains(address) && !cluster.map.masters.contains(address) {
            subscriber.close()
            subscribers[address] = nil
        }
    }

    private func place(_ sessionId: String) {
        guard started, let current = placed[sessionId] else { return }
        let channel = keys.sessionChannel(sessionId)
        let owner = cluster.master(of: channel)
        guard owner != current else { return }
        if let current { subscribers[current]?.unwatch(channel) }
        placed[sessionId] = .some(owner)
        if let owner { subscriber(for: owner).watch(channel) }
    }

    private func subscriber(for address: RedisAddress) -> RedisSubscriber {
        if let known = subscribers[address] { return known }
        let keys = self.keys
        let listener = self.listener
        let logger = self.logger
        let subscriber = RedisSubscriber(
            loop: loop, url: url.at(address), channel: keys.heartbeatChannel, logger: logger, sharded: true,
            onMessage: RedisChannelMessage.receiver(listener: listener, logger: logger, channel: "a session channel"),
            onResubscribed: { [weak self] in
                // This master's connection came back: what it published meanwhile is lost to
                // us; refill the sessions it holds.
                guard let self else { return }
                for (sessionId, master) in placed where master == address { listener.busResynchronized(sessionId: sessionId) }
            })
        subscriber.onChannelSubscribed = { channel, refill in
            guard refill, let sessionId = keys.sessionId(ofChannel: channel) else { return }
            listener.busResynchronized(sessionId: sessionId)
        }
        subscriber.onChannelLost = { [weak self] channel in
            guard let self else { return }
            // The slot moved: forget where the session was, and ask the cluster where it is.
            if let channel, let sessionId = keys.sessionId(ofChannel: channel), placed[sessionId] != nil {
                logger.info("redis moved a session channel's slot: subscribing at its new master", metadata: ["channel": "\(channel)"])
                placed[sessionId] = .some(nil)
            }
            cluster.refreshMap()
        }
        // A master's subscriber dropped: perhaps a failover; the map says.
        subscriber.onConnectionDown = { [weak self] in self?.cluster.refreshMap() }
        subscribers[address] = subscriber
        subscriber.start()
        return subscriber
    }
}
