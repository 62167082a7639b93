import SBCore
import SBEventLoop
import SBStore

/// Presence on one loop (issue 26): every subscription of this loop's clients is an entry in
/// its session's presence, joined when it is added to the index and left when it is removed;
/// this loop renews the leases of its own entries (Redis) and delivers joins and leaves to its
/// watchers through the coalescer. Without Redis (one instance) the subscriptions themselves are
/// the presence: nothing is copied into the store (idle memory per subscription), joins and
/// leaves go straight to the hub, and reads gather the loops' own subscriptions.
extension LoopHub {
    // MARK: Entries

    func presenceEntry(of subscription: Subscription, sinceMillis: Int64) -> PresenceEntry {
        PresenceEntry(clientId: subscription.client.clientId, instanceId: hub.configuration.instanceId,
                      sinceMillis: sinceMillis, info: subscription.client.presenceInfo)
    }

    /// A failed join (storage down) is made good by the next renewal, which finds the id missing.
    func presenceJoined(_ subscription: Subscription) {
        let now = WallClock.millisecondsSinceEpoch()
        if subscription.wantsPresence { presenceWatchers[subscription.sessionId, default: 0] += 1 }
        let entry = presenceEntry(of: subscription, sinceMillis: now)
        if let leased = store.leasedPresence {
            leased.presenceJoin(sessionId: subscription.sessionId, entry: entry) { _ in }
        } else {
            presenceJoinedAt[ObjectIdentifier(subscription)] = now
            hub.receive(.presence(sessionId: subscription.sessionId, joins: [entry], leaves: []))
        }
    }

    /// A failed leave (storage down) is made good by the lease: the entry expires and a sweep
    /// publishes the leave.
    func presenceLeft(_ subscription: Subscription) {
        if subscription.wantsPresence { setWantsPresence(subscription, false) }
        if let leased = store.leasedPresence {
            leased.presenceLeave(sessionId: subscription.sessionId, clientId: subscription.client.clientId) { _ in }
        } else {
            let since = presenceJoinedAt.removeValue(forKey: ObjectIdentifier(subscription)) ?? 0
            let entry = presenceEntry(of: subscription, sinceMillis: since)
            hub.receive(.presence(sessionId: subscription.sessionId, joins: [], leaves: [entry]))
        }
    }

    /// The session's presence: from Redis, or (one instance) from every loop's subscriptions.
    func readPresence(sessionId: String, limit: Int, _ done: @escaping (Result<PresenceList, StoreError>) -> Void) {
        if let leased = store.leasedPresence { return leased.presence(sessionId: sessionId, limit: limit, done) }
        hub.localPresence(sessionId: sessionId, limit: limit, replyOn: self) { done(.success($0)) }
    }

    /// This loop's entries of a session (the local presence; built per read, kept nowhere).
    func localPresenceEntries(sessionId: String) -> [PresenceEntry] {
        subscriptions(of: sessionId).map { presenceEntry(of: $0, sinceMillis: presenceJoinedAt[ObjectIdentifier($0)] ?? 0) }
    }

    /// Turns a subscription's presence messages on or off (it is in the index).
    func setWantsPresence(_ subscription: Subscription, _ wants: Bool) {
        guard subscription.wantsPresence != wants else { return }
        subscription.wantsPresence = wants
        let sessionId = subscription.sessionId
        let watchers = (presenceWatchers[sessionId] ?? 0) + (wants ? 1 : -1)
        if watchers > 0 {
            presenceWatchers[sessionId] = watchers
        } else {
            presenceWatchers[sessionId] = nil
            presenceCoalescer.forget(sessionId: sessionId)
        }
    }

    /// The current presence (at most `PresenceList.maxListed` entries) as a `presence` message.
    func sendPresenceSnapshot(to client: any Subscriber, sessionId: String) {
        readPresence(sessionId: sessionId, limit: PresenceList.maxListed) { result in
            switch result {
            case .success(let list): client.send(.presence(sessionId: sessionId, list))
            case .failure: client.sendError("storage unavailable: presence not read", code: "unavailable", sessionId: sessionId)
            }
        }
    }

    /// The bus may have lost presence messages (Redis resubscribed, or a session's channel was
    /// only just joined): every watcher of the session(s) gets the list again, one read per session.
    func presenceResynchronized(sessionId: String? = nil) {
        for watched in Array(presenceWatchers.keys) where sessionId == nil || watched == sessionId {
            readPresence(sessionId: watched, limit: PresenceList.maxListed) { [self] result in
                guard case .success(let list) = result else { return }
                let message = HubMessage.presence(sessionId: watched, list)
                for subscription in subscriptions(of: watched) where subscription.active && subscription.wantsPresence {
                    subscription.client.send(message)
                }
            }
        }
    }

    // MARK: Leases

    /// Every `presenceRenewMillis` with Redis (every 5 s with memory, which has no leases):
    /// renew this loop's entries, session by session, in pieces of at most 1000 ids; each call
    /// also sweeps the session's expired entries. Quiet coalescer state is forgotten here.
    func startPresenceTimer() {
        let leased = store.leasedPresence
        let interval = leased != nil ? hub.configuration.store.presenceRenewMillis : 5000
        loop.scheduleRepeating(every: .milliseconds(interval)) { [self] in
            presenceCoalescer.prune(now: MonotonicClock.milliseconds())
            if let leased { renewPresence(leased) }
        }
    }

    func renewPresence(_ store: any LeasedPresence) {
        for sessionId in Array(subscribedSessions) {
            let ids = subscriptions(of: sessionId).map { $0.client.clientId }
            var start = 0
            while start < ids.count {
                let piece = Array(ids[start..<min(start + 1000, ids.count)])
                start += piece.count
                store.presenceRenew(sessionId: sessionId, clientIds: piece) { [self] result in
                    guard case .success(let missing) = result, !missing.isEmpty else { return }
                    rejoin(sessionId: sessionId, clientIds: Set(missing), store: store)
                }
            }
        }
    }

    /// Ids a sweep removed while this instance could not renew them (Redis was unreachable for
    /// longer than a lease): those still subscribed join again (and watchers see them return).
    private func rejoin(sessionId: String, clientIds: Set<String>, store: any LeasedPresence) {
        for subscription in subscriptions(of: sessionId) where subscription.active {
            guard clientIds.contains(subscription.client.clientId) else { continue }
            store.presenceJoin(sessionId: sessionId, entry: presenceEntry(of: subscription, sinceMillis: WallClock.millisecondsSinceEpoch())) { _ in }
        }
    }

    // MARK: Delivery

    /// A presence change from the bus: through the coalescer to this loop's watchers.
    func deliverPresence(sessionId: String, joins: [PresenceEntry], leaves: [PresenceEntry]) {
        guard presenceWatchers[sessionId] != nil else { return }
        let now = MonotonicClock.milliseconds()
        perform(presenceCoalescer.received(sessionId: sessionId, joins: joins, leaves: leaves, now: now), sessionId: sessionId, now: now)
    }

    private func perform(_ actions: [PresenceCoalescer.Action], sessionId: String, now: Int64) {
        for action in actions {
            switch action {
            case .send(let notice):
                let message = HubMessage.presence(sessionId: sessionId, notice)
                for subscription in subscriptions(of: sessionId) where subscription.active && subscription.wantsPresence {
                    subscription.client.send(message)
                }
            case .flush(let at):
                loop.schedule(after: .milliseconds(max(at - now, 0))) { [self] in
                    let now = MonotonicClock.milliseconds()
                    perform(presenceCoalescer.flush(sessionId: sessionId, now: now), sessionId: sessionId, now: now)
                }
            }
        }
    }
}

extension MonotonicClock {
    /// The monotonic clock in milliseconds (the coalescer's clock).
    static func milliseconds() -> Int64 { Int64(now() / 1_000_000) }
}
