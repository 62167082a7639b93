import SBWebSocket
import SBCore
import Synchronization
import CoreMetrics
import SBEventLoop
import SBServer
import SBStore

/// The hub's fan-out on one loop: this loop's subscription index, delivery of what the bus
/// brings, presence, and its store handle (HTTP routing is `LoopRouter`'s). Only this loop's
/// thread touches it, so it needs no locks.
final class LoopHub: @unchecked Sendable {  // confined to `loop`; crossed only via loop.execute
    let loop: EventLoop
    let store: any Store
    /// Owns this loop hub (`Hub.loopHubs`) and outlives it.
    unowned let hub: Hub
    /// sessionId → subscriptions held by this loop's clients.
    private var index: [String: [Subscription]] = [:]
    /// How joins and leaves reach this loop's presence watchers (batched past a rate).
    var presenceCoalescer = PresenceCoalescer()
    /// sessionId → this loop's subscriptions that want its presence messages (absent: none).
    var presenceWatchers: [String: Int] = [:]
    /// Without Redis: when each of this loop's subscriptions joined (its presence `since`),
    /// entered on join and removed on leave. Kept beside the subscription, not in it, so the
    /// Subscription object stays in its 96-byte chunk.
    var presenceJoinedAt: [ObjectIdentifier: Int64] = [:]
    init(loop: EventLoop, store: any Store, hub: Hub) {
        self.loop = loop
        self.store = store
        self.hub = hub
    }

    // MARK: Subscription index

    func add(_ subscription: Subscription) {
        var list = index.removeValue(forKey: subscription.sessionId) ?? []
        if list.isEmpty { hub.setInterest(loop: loop.index, sessionId: subscription.sessionId, true) }
        subscription.slot = list.count
        list.append(subscription)
        index[subscription.sessionId] = list
        hub.metrics.subscriptions.increment()
        hub.stats.subscriptions.add(1, ordering: .relaxed)
        presenceJoined(subscription)
    }

    func remove(_ subscription: Subscription) {
        guard let current = index[subscription.sessionId], subscription.slot < current.count,
              current[subscription.slot] === subscription else { return }
        subscription.active = false
        var list = index.removeValue(forKey: subscription.sessionId)!
        let last = list.removeLast()
        if last !== subscription {
            list[subscription.slot] = last
            last.slot = subscription.slot
        }
        if list.isEmpty {
            hub.setInterest(loop: loop.index, sessionId: subscription.sessionId, false)
        } else {
            index[subscription.sessionId] = list
        }
        hub.metrics.subscriptions.decrement()
        hub.stats.subscriptions.subtract(1, ordering: .relaxed)
        presenceLeft(subscription)
    }

    /// This loop's subscriptions of a session (presence renewals and deliveries).
    func subscriptions(of sessionId: String) -> [Subscription] { index[sessionId] ?? [] }

    /// Every session this loop's clients are subscribed to.
    var subscribedSessions: Dictionary<String, [Subscription]>.Keys { index.keys }

    // MARK: Delivery

    /// Cost is O(subscribers of this session on this loop): never a scan of all clients.
    /// `frame` is `message` as a WebSocket frame; its compressed form (permessage-deflate) is
    /// made once per event, and only when a subscriber that agreed to it asks; the Server-Sent
    /// Events form is rendered from `message` once per loop, and only when a stream subscribes
    /// to the session. `acceptedAtMillis` (the accepting instance's wall clock) times the
    /// delivery lag: one clock read per event and loop, not per subscriber.
    func deliver(sessionId: String, epoch: String?, message hubMessage: HubMessage, frame: BroadcastFrame,
                 publishedAt: UInt64, acceptedAtMillis: Int64?) {
        let seq = hubMessage.position
        guard let list = index[sessionId] else { return }
        var sent = 0
        var serverSentEvent: SharedBytes?
        let heldByteLimit = hub.configuration.replayHeldBytes
        for subscription in list {
            let message: SharedBytes
            switch subscription.format {
            case .webSocket:
                message = frame.plain
            case .webSocketDeflate:
                message = subscription.client.liveFrame(for: frame)
            case .serverSentEvents:
                if let made = serverSentEvent {
                    message = made
                } else {
                    message = SharedBytes(ServerSentEvents.render(hubMessage))
                    serverSentEvent = message
                }
            }
            if subscription.offer(seq: seq, epoch: epoch, message: message, heldByteLimit: heldByteLimit) { sent += 1 }
        }
        if sent > 0 {
            hub.metrics.recordDeliveries(sent, publishedAt: publishedAt)
            hub.stats.deliveries.add(sent, ordering: .relaxed)
            if let acceptedAtMillis {
                hub.deliveryLag.observe(loop: loop.index, .live, lagMicros: WallClock.microsecondsSinceEpoch() - acceptedAtMillis * 1000, count: sent)
            }
        }
    }

    /// DELETE: each subscriber of the session follows its stream into the new epoch.
    func reset(sessionId: String, epoch: String) {
        guard let list = index[sessionId] else { return }
        for subscription in list where subscription.active {
            subscription.perform(subscription.machine.reset(epoch: epoch))
        }
    }

    /// After the bus lost messages (Redis resubscribed), every subscription fills the gap
    /// from history, each from its own position.
    func refillFromHistory() {
        for list in index.values {
            for subscription in list where subscription.active {
                subscription.perform(subscription.machine.resynchronize())
            }
        }
    }

    /// The same for one session (its channel was just joined: REDIS_CHANNEL_MODE=session).
    func refillFromHistory(sessionId: String) {
        for subscription in index[sessionId] ?? [] where subscription.active {
            subscription.perform(subscription.machine.resynchronize())
        }
    }
}
