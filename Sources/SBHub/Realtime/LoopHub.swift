import SBCore
import CoreMetrics
import SBEventLoop
import SBServer
import SBStore

/// The hub's state on one loop: this loop's subscription index and its store handle. Only this
/// loop's thread touches it, so it needs no locks.
final class LoopHub: @unchecked Sendable {  // confined to `loop`; crossed only via loop.execute
    let loop: EventLoop
    let store: any Store
    unowned(unsafe) var hub: Hub!
    /// sessionId → subscriptions held by this loop's clients.
    private var index: [String: [Subscription]] = [:]
    let instruments = HubMetrics.RequestInstruments()

    init(loop: EventLoop, store: any Store) {
        self.loop = loop
        self.store = store
    }

    func start() {
        if let memory = store as? MemoryStore, loop.index == 0 {
            loop.scheduleRepeating(every: .seconds(5)) { memory.sweepExpired() }
        }
    }

    // MARK: Subscription index

    func add(_ subscription: Subscription) {
        var list = index.removeValue(forKey: subscription.sessionId) ?? []
        if list.isEmpty { hub.setInterest(loop: loop.index, sessionId: subscription.sessionId, true) }
        subscription.slot = list.count
        list.append(subscription)
        index[subscription.sessionId] = list
        hub.metrics.subscriptions.increment()
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
    }

    // MARK: Delivery

    /// Cost is O(subscribers of this session on this loop): never a scan of all clients.
    func deliver(sessionId: String, seq: Int64?, frame: SharedFrame, publishedAt: UInt64) {
        guard let list = index[sessionId] else { return }
        var sent = 0
        for subscription in list where subscription.offer(seq: seq, frame: frame) {
            sent += 1
        }
        if sent > 0 {
            hub.metrics.recordDeliveries(sent, publishedAt: publishedAt)
        }
    }

    /// After the bus lost messages (Redis reconnect), fill every subscribed session from
    /// history: `offer` drops what subscribers already had.
    func refillFromHistory() {
        for (sessionId, list) in index {
            guard let floor = list.map(\.lastSeq).min() else { continue }
            replay(sessionId: sessionId, after: floor, into: list)
        }
    }

    /// Reads history after `after` and offers it to `subscriptions`; their live messages wait
    /// in `pending` until the read completes, so history and live interleave in seq order.
    /// A failed read (storage still reconnecting) is retried for a while before giving up.
    func replay(sessionId: String, after: Int64, into subscriptions: [Subscription], attempt: Int = 0,
                completion: ((Bool) -> Void)? = nil) {
        for subscription in subscriptions where subscription.pending == nil {
            subscription.pending = []
        }
        let query = EventQuery(after: after, limit: max(hub.configuration.store.historyLimit, 1))
        store.events(sessionId: sessionId, query: query) { [self] result in
            guard case .success(let events) = result else {
                if attempt < 40 {
                    loop.schedule(after: .milliseconds(250)) { [self] in
                        replay(sessionId: sessionId, after: after, into: subscriptions, attempt: attempt + 1, completion: completion)
                    }
                } else {
                    for subscription in subscriptions { subscription.finishReplay() }
                    completion?(false)
                }
                return
            }
            for subscription in subscriptions {
                let queued = subscription.pending
                subscription.pending = nil
                for event in events where event.seq > subscription.lastSeq {
                    let frame = FrameBuilder.textFrame(EventMessage.event(sessionId: sessionId, seq: event.seq, storedJSON: event.json))
                    subscription.offer(seq: event.seq, frame: frame)
                }
                subscription.pending = queued
                subscription.finishReplay()
            }
            completion?(true)
        }
    }
}
