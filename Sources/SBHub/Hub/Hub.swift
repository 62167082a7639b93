import CoreMetrics
import SBWebSocket
public import SBEventLoop
public import SBStore
import SBCore
public import SBServer
import Synchronization
public import Logging

/// The process-wide hub: one `LoopHub` per event loop, and the bus listener that hands every
/// published message to all of them. A message is framed once here; each loop gets the same
/// bytes and delivers them to its own subscribers.
public final class Hub: BusListener, Sendable {
    public let configuration: HubConfiguration
    /// One fan-out and one router per loop, indexed by `loop.index`. Written once, in `init`
    /// (they need `self`), before the hub is shared with any other thread; read-only after.
    nonisolated(unsafe) private(set) var loopHubs: [LoopHub] = []
    nonisolated(unsafe) private(set) var routers: [LoopRouter] = []
    let startedAt = MonotonicClock.now()
    let logger: Logger
    let metrics: HubMetrics
    let stats = HubStats()
    /// `switchboard_delivery_lag_seconds`, counted per loop.
    let deliveryLag: DeliveryLag
    let policy: HubPolicy
    /// The per-connection WebSocket message limit (nil: off), rate and burst both
    /// `WS_RATE_LIMIT`; each client keeps only its bucket's state.
    let wsMessageRate: TokenRate?
    private let drainingFlag = Atomic<Bool>(false)
    /// Set once at start-up, read by every `/health`: a lock-free load.
    private let serverReference = AtomicLazyReference<Server>()
    /// The instance id as a JSON string, for `/health`.
    let instanceIdJSON: [UInt8]
    /// How the wiring tells whether cross-instance delivery works (the Redis Pub/Sub
    /// subscription is in place); `/ready` and `/health` report it. A `let`, not a locked
    /// var: a closure read through a generic lock is re-thunked on every access.
    private let busStatus: @Sendable () -> Bool
    /// Which loops have subscribers for a session, so a publish wakes only the loops that have
    /// someone to deliver to. Sized from the loop count (any `THREADS`), never a fixed width.
    private let interest = Locked<[String: LoopSet]>([:])
    /// Told (with the session id) when a session gains its first subscriber on this instance or
    /// loses its last: REDIS_CHANNEL_MODE=session subscribes to its channel then.
    private let interestObserver = Locked<(@Sendable (String) -> Void)?>(nil)

    public init(configuration: HubConfiguration, group: EventLoopGroup, logger: Logger,
                storeFactory: (EventLoop) -> any Store, busStatus: @escaping @Sendable () -> Bool = { true }) {
        self.configuration = configuration
        var idJSON: [UInt8] = []
        JSONString.append(configuration.instanceId, to: &idJSON)
        instanceIdJSON = idJSON
        self.busStatus = busStatus
        self.logger = logger
        self.metrics = HubMetrics()
        self.deliveryLag = DeliveryLag(loops: group.loops.count)
        self.policy = HubPolicy(configuration: configuration, metrics: metrics, logger: logger)
        self.wsMessageRate = configuration.wsMessagesPerSecond > 0
            ? TokenRate(rate: configuration.wsMessagesPerSecond, burst: configuration.wsMessagesPerSecond) : nil
        loopHubs = group.loops.map { LoopHub(loop: $0, store: storeFactory($0), hub: self) }
        routers = loopHubs.map { LoopRouter(hub: self, loopHub: $0) }
        for hub in loopHubs {
            hub.loop.execute { hub.startPresenceTimer() }
        }
        ConsoleAssets.warmUp()
        let first = loopHubs[0]
        first.loop.execute { [unowned self] in
            first.loop.scheduleRepeating(every: .seconds(HubStats.intervalSeconds)) { [unowned self] in sampleStats() }
        }
    }

    /// Every `HubStats.intervalSeconds` on loop 0: a history sample, and this instance's
    /// heartbeat in the instance registry (Redis: `instances`, REDIS_INTEGRATION.md).
    private func sampleStats() {
        let connections = server?.connectionCount ?? 0
        stats.sample(connections: connections, deliveryLag: deliveryLag.snapshot())
        let store = loopHubs[0].store
        store.announceInstance(id: configuration.instanceId, json: InstanceStatus(self, server: server).summary(), ttlSeconds: HubStats.instanceTTLSeconds) { [stats] result in
            if case .success(let list) = result { stats.instances.withLock { $0 = list } }
        }
    }

    public func responder(for loop: EventLoop) -> any HTTPResponder {
        routers[loop.index]
    }

    public func attach(server: Server) {
        _ = serverReference.storeIfNil(server)
    }

    var server: Server? { serverReference.load() }

    var busIsUp: Bool { busStatus() }

    public var isDraining: Bool { drainingFlag.load(ordering: .relaxed) }

    /// Shutdown step 0: `/ready` answers 503 from now on.
    public func beginDraining() {
        drainingFlag.store(true, ordering: .relaxed)
    }

    // MARK: BusListener

    public func receive(_ message: BusMessage) {
        switch message {
        case .event(let sessionId, let seq, let epoch, let json, let acceptedAtMillis):
            // The one place an event becomes a client message: every loop, subscriber and
            // transport renders from these bytes.
            broadcast(sessionId: sessionId, epoch: epoch, timed: true, acceptedAtMillis: acceptedAtMillis) {
                HubMessage.event(sessionId: sessionId, seq: seq, storedJSON: json)
            }
        case .reset(let sessionId, let epoch):
            let loops = interestedLoops(sessionId)
            for hub in loopHubs where loops.contains(hub.loop.index) {
                hub.loop.execute { hub.reset(sessionId: sessionId, epoch: epoch) }
            }
        case .presence(let sessionId, let joins, let leaves):
            let loops = interestedLoops(sessionId)
            for hub in loopHubs where loops.contains(hub.loop.index) {
                hub.loop.execute { hub.deliverPresence(sessionId: sessionId, joins: joins, leaves: leaves) }
            }
        case .push(let sessionId, let queue, let item):
            broadcast(sessionId: sessionId, epoch: nil, timed: false, acceptedAtMillis: nil) {
                HubMessage.push(queue, sessionId: sessionId, itemJSON: item)
            }
        }
    }

    /// A bus message for a session's subscribers: counted, then (only when some loop has a
    /// subscriber) made by `make` and framed once, and delivered on each such loop. `timed`:
    /// the publish-to-delivery time is measured from here (events; pushes are not timed).
    private func broadcast(sessionId: String, epoch: String?, timed: Bool, acceptedAtMillis: Int64?, _ make: () -> HubMessage) {
        let loops = interestedLoops(sessionId)
        metrics.busMessages.increment()
        guard !loops.isEmpty else { return metrics.busMessagesWithoutSubscriber.increment() }
        let message = make()
        let frame = BroadcastFrame(text: message.json)
        let publishedAt = timed ? MonotonicClock.now() : 0
        for hub in loopHubs where loops.contains(hub.loop.index) {
            hub.loop.execute {
                hub.deliver(sessionId: sessionId, epoch: epoch, message: message, frame: frame, publishedAt: publishedAt, acceptedAtMillis: acceptedAtMillis)
            }
        }
    }

    func interestedLoops(_ sessionId: String) -> LoopSet {
        interest.withLock { $0[sessionId] } ?? LoopSet(capacity: 1)
    }

    /// Called by a loop when its first subscriber of a session arrives / its last one leaves.
    func setInterest(loop: Int, sessionId: String, _ interested: Bool) {
        let loopCount = loopHubs.count
        let changed = interest.withLock { map in
            var loops = map[sessionId] ?? LoopSet(capacity: loopCount)
            let wasEmpty = loops.isEmpty
            loops.set(loop, interested)
            map[sessionId] = loops.isEmpty ? nil : loops
            return wasEmpty != loops.isEmpty
        }
        if changed, let observer = interestObserver.withLock({ $0 }) { observer(sessionId) }
    }

    /// Some loop of this instance has a subscriber of the session (any thread).
    public func isInterested(in sessionId: String) -> Bool {
        interest.withLock { $0[sessionId] != nil }
    }

    public func hasLocalSubscriber(_ sessionId: String) -> Bool { isInterested(in: sessionId) }

    public func watches(_ sessionId: String) -> Bool { isInterested(in: sessionId) }

    /// Counted as `broadcast` counts the events it finds no subscriber for.
    public func busEventsUnwatched(_ events: Int) {
        metrics.busMessages.increment(by: events)
        metrics.busMessagesWithoutSubscriber.increment(by: events)
    }

    public func busMessageMalformed() { metrics.busMessagesMalformed.increment() }

    public func memoryStoreEvicted(sessions: Int, idempotencyKeys: Int) {
        if sessions > 0 { metrics.memoryStoreEvictedSessions.increment(by: sessions) }
        if idempotencyKeys > 0 { metrics.memoryStoreEvictedIdempotencyKeys.increment(by: idempotencyKeys) }
    }

    /// `observer(sessionId)` runs (on the loop that caused it) whenever `isInterested(in:)`
    /// may have changed for that session; it should read `isInterested(in:)` when it acts, so
    /// that notifications from several loops may arrive in any order. Set before serving.
    public func observeInterest(_ observer: @escaping @Sendable (String) -> Void) {
        interestObserver.withLock { $0 = observer }
    }

    public func busResynchronized() {
        for hub in loopHubs {
            hub.loop.execute {
                hub.refillFromHistory()
                hub.presenceResynchronized()
            }
        }
    }

    public func busResynchronized(sessionId: String) {
        let loops = interestedLoops(sessionId)
        for hub in loopHubs where loops.contains(hub.loop.index) {
            hub.loop.execute {
                hub.refillFromHistory(sessionId: sessionId)
                hub.presenceResynchronized(sessionId: sessionId)
            }
        }
    }
}

// MARK: Presence of one instance

extension Hub {
    /// The presence of a session from this instance's own subscriptions (no Redis: there is no
    /// other instance): each interested loop lists its entries on its own thread, and `done`
    /// runs on `replyOn`'s loop with the exact count and the oldest `limit` entries.
    func localPresence(sessionId: String, limit: Int, replyOn requester: LoopHub, _ done: @escaping (PresenceList) -> Void) {
        let loops = interestedLoops(sessionId)
        let holders = loopHubs.filter { loops.contains($0.loop.index) }
        guard !holders.isEmpty else { return done(PresenceList(count: 0, entries: [])) }
        let gathered = LocalPresenceGathering(expected: holders.count, limit: limit, done: done)
        for holder in holders {
            holder.loop.execute {
                let entries = holder.localPresenceEntries(sessionId: sessionId)
                requester.loop.execute { gathered.add(entries) }
            }
        }
    }
}

/// The loops' answers to one local presence read, collected on the reading loop only.
private final class LocalPresenceGathering: @unchecked Sendable {  // touched on the requester's loop only
    private var remaining: Int
    private var entries: [PresenceEntry] = []
    private let limit: Int
    private let done: (PresenceList) -> Void

    init(expected: Int, limit: Int, done: @escaping (PresenceList) -> Void) {
        remaining = expected
        self.limit = limit
        self.done = done
    }

    /// One loop's entries; the last one's answer completes the read.
    func add(_ more: [PresenceEntry]) {
        entries.append(contentsOf: more)
        remaining -= 1
        guard remaining == 0 else { return }
        let oldest = entries.sorted { ($0.sinceMillis, $0.clientId) < ($1.sinceMillis, $1.clientId) }
        done(PresenceList(count: entries.count, entries: Array(oldest.prefix(max(limit, 0)))))
    }
}
