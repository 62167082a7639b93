public import SBCore
import DequeModule

/// The embedded store for a single instance: plain dictionaries split into shards by key hash,
/// each behind its own lock, so requests for different sessions rarely wait for each other.
///
/// Bus messages are handed over under the lock that assigned their seq (`MemoryShard.post`)
/// and published after it is released, by one publisher per shard at a time: a session's
/// events reach every loop in exactly `seq` order, and no WebSocket frame is built under a lock.
public final class MemoryStore: Store, Sendable {
    public let kind = StorageKind.memory
    public var isAvailable: Bool { true }
    static let shardCount = 16
    /// Expired keys examined per shard per sweep (the sweep runs every second).
    static let sweepBudget = 1000
    /// Idempotency keys remembered per shard; beyond it the oldest is forgotten early.
    static let maxIdempotencyKeysPerShard = 65_536

    private let shards: [Locked<MemoryShard>]
    private let settings: StoreSettings
    private let listener: Locked<(any BusListener)?> = Locked(nil)
    private let clock: @Sendable () -> Int64

    /// `clock` gives monotonic milliseconds; tests inject one to expire data without sleeping.
    public init(settings: StoreSettings, clock: @escaping @Sendable () -> Int64 = { Int64(MonotonicClock.now() / 1_000_000) }) {
        self.settings = settings
        self.clock = clock
        shards = (0..<Self.shardCount).map { _ in Locked(MemoryShard()) }
    }

    public func setListener(_ listener: any BusListener) {
        self.listener.withLock { $0 = listener }
    }

    private func shard(_ key: String) -> Int {
        Int(UInt(bitPattern: key.hashValue) % UInt(Self.shardCount))
    }

    private var sessionDeadline: Int64 { clock() + Int64(settings.sessionTTLSeconds) * 1000 }
    private var queueDeadline: Int64 { clock() + Int64(settings.queueTTLSeconds) * 1000 }

    /// Removes expired data with bounded work per shard; the wiring calls this every second.
    /// Returns the number of keys removed.
    @discardableResult
    public func sweepExpired() -> Int {
        let now = clock()
        return shards.reduce(0) { total, shard in total + shard.withLock { $0.sweep(now: now, budget: Self.sweepBudget) } }
    }

    /// Publishes `first` (the caller became the shard's publisher in `post`), then whatever
    /// other callers queued meanwhile, in order, and gives the publisher role back.
    private func publish(_ first: BusMessage?, shard index: Int) {
        guard let first else { return }
        let bus = listener.withLock { $0 }
        bus?.receive(first)
        while true {
            let batch = shards[index].withLock { shard -> [BusMessage] in
                if shard.outbox.isEmpty {
                    shard.publishing = false
                    return []
                }
                defer { shard.outbox = [] }
                return shard.outbox
            }
            if batch.isEmpty { return }
            for message in batch { bus?.receive(message) }
        }
    }

    // MARK: Events

    public func appendEvents(_ events: [NewEvent], _ done: @escaping (Result<[AppendedEvent], StoreError>) -> Void) {
        let now = clock()
        let deadline = sessionDeadline
        let idempotencyDeadline = now + Int64(settings.idempotencyTTLSeconds) * 1000
        let limit = max(settings.historyLimit, 1)
        var results: [AppendedEvent] = []
        results.reserveCapacity(events.count)
        for event in events {
            let index = shard(event.sessionId)
            let (result, direct) = shards[index].withLock { shard -> (AppendedEvent, BusMessage?) in
                let idempotencyKey = event.idempotencyKey.map { event.sessionId + "\u{0}" + $0 }
                if let idempotencyKey, let first = shard.idempotency[idempotencyKey], first.expiresAt > now {
                    var repeated = first.value
                    repeated.duplicate = true
                    return (repeated, nil)
                }
                // Take the log out of the dictionary so appending does not copy its storage.
                var log = shard.takeStream(event.sessionId, now: now, deadline: deadline)
                log.lastSeq += 1
                let stored = StoredEvent(seq: log.lastSeq, json: StoredEventJSON.make(seq: log.lastSeq, body: event.body))
                log.events.append(stored)
                log.timestamps.append(event.timestampMillis)
                while log.events.count > limit {
                    log.events.removeFirst()
                    log.timestamps.removeFirst()
                }
                log.expiresAt = deadline
                let epoch = log.epoch
                shard.streams[event.sessionId] = log
                let appended = AppendedEvent(sessionId: event.sessionId, eventId: event.eventId, seq: stored.seq)
                if let idempotencyKey {
                    remember(appended, as: idempotencyKey, until: idempotencyDeadline, in: &shard)
                }
                return (appended, shard.post(.event(sessionId: event.sessionId, seq: stored.seq, epoch: epoch, json: stored.json)))
            }
            results.append(result)
            publish(direct, shard: index)
        }
        done(.success(results))
    }

    private func remember(_ appended: AppendedEvent, as key: String, until deadline: Int64, in shard: inout MemoryShard) {
        if shard.idempotency[key] == nil {
            shard.idempotencyQueue.append(.init(map: .idempotency, key: key, deadline: deadline))
        }
        shard.idempotency[key] = .init(value: appended, expiresAt: deadline)
        while shard.idempotency.count > Self.maxIdempotencyKeysPerShard, let oldest = shard.idempotencyQueue.popFirst() {
            shard.idempotency[oldest.key] = nil
        }
    }

    public func readStream(sessionId: String, after: Int64, limit: PageLimit,
                           _ done: @escaping (Result<StreamPage, StoreError>) -> Void) {
        let now = clock()
        let deadline = sessionDeadline
        let page = shards[shard(sessionId)].withLock { shard -> StreamPage in
            let log = shard.takeStream(sessionId, now: now, deadline: deadline)
            shard.streams[sessionId] = log
            var events: [StoredEvent] = []
            var bytes = 0
            var i = log.events.isEmpty ? 0 : Int(max(0, min(after + 1 - log.oldestSeq, Int64(log.events.count))))
            while i < log.events.count, events.count < limit.count {
                let event = log.events[i]
                if !events.isEmpty, bytes + event.json.count > limit.bytes { break }
                events.append(event)
                bytes += event.json.count
                i += 1
            }
            return StreamPage(epoch: log.epoch, lastSeq: log.lastSeq, oldestSeq: log.oldestSeq, events: events)
        }
        done(.success(page))
    }

    public func events(sessionId: String, query: EventQuery, _ done: @escaping (Result<[StoredEvent], StoreError>) -> Void) {
        let now = clock()
        let result = shards[shard(sessionId)].withLock { shard -> [StoredEvent] in
            guard let log = shard.streams[sessionId], log.expiresAt > now, !log.events.isEmpty else { return [] }
            // Events are in seq order: skip the prefix at or below `after` quickly.
            var start = 0
            if let after = query.after, after >= log.oldestSeq {
                start = Int(min(after - log.oldestSeq + 1, Int64(log.events.count)))
            }
            let limit = max(query.limit, 0)
            var matching: [StoredEvent] = []
            if query.newest {
                // Newest first from the end, so only what is returned is looked at and copied.
                var i = log.events.count - 1
                while i >= start, matching.count < limit {
                    if query.sinceMillis.map({ log.timestamps[i] >= $0 }) ?? true { matching.append(log.events[i]) }
                    i -= 1
                }
                return matching.reversed()
            }
            var i = start
            while i < log.events.count, matching.count < limit {
                if query.sinceMillis.map({ log.timestamps[i] >= $0 }) ?? true { matching.append(log.events[i]) }
                i += 1
            }
            return matching
        }
        done(.success(result))
    }

    // MARK: Sessions

    public func createSession(_ session: Session, _ done: @escaping (Result<Void, StoreError>) -> Void) {
        let deadline = sessionDeadline
        shards[shard(session.id)].withLock { shard in
            if shard.sessions[session.id] == nil { shard.track(.session, session.id, deadline: deadline) }
            shard.sessions[session.id] = .init(value: session, expiresAt: deadline)
        }
        done(.success(()))
    }

    public func session(id: String, _ done: @escaping (Result<Session?, StoreError>) -> Void) {
        let now = clock()
        done(.success(shards[shard(id)].withLock { $0.liveSession(id, now: now) }))
    }

    public func announceInstance(id: String, json: [UInt8], ttlSeconds: Int, _ done: @escaping (Result<[[UInt8]], StoreError>) -> Void) {
        done(.success([json]))
    }

    public func listSessions(_ done: @escaping (Result<[SessionSummary], StoreError>) -> Void) {
        let now = clock()
        var list: [SessionSummary] = []
        for shard in shards {
            shard.withLock { shard in
                for entry in shard.sessions.values where entry.expiresAt > now {
                    let stream = shard.streams[entry.value.id].flatMap { $0.expiresAt > now ? $0 : nil }
                    list.append(SessionSummary(session: entry.value, chainsCount: shard.liveChainIds(entry.value.id, now: now).count,
                                               lastSeq: stream?.lastSeq ?? 0))
                }
            }
        }
        done(.success(list.sorted { ($0.session.startedAt, $0.session.id) < ($1.session.startedAt, $1.session.id) }))
    }

    public func updateSession(id: String, _ update: SessionUpdate, _ done: @escaping (Result<Session?, StoreError>) -> Void) {
        let now = clock()
        let deadline = sessionDeadline
        let updated = shards[shard(id)].withLock { shard -> Session? in
            guard var session = shard.liveSession(id, now: now) else { return nil }
            session.apply(update)
            shard.sessions[id] = .init(value: session, expiresAt: deadline)
            return session
        }
        done(.success(updated))
    }

    public func deleteSession(id: String, _ done: @escaping (Result<Bool, StoreError>) -> Void) {
        let now = clock()
        let deadline = sessionDeadline
        let index = shard(id)
        let (existed, chainIds, direct) = shards[index].withLock { shard -> (Bool, [String], BusMessage?) in
            // Anything of the session counts (record, events, chains, queues); with none of it
            // the answer is 404 and nothing changes: no new epoch, no reset sent.
            let existed = shard.liveSession(id, now: now) != nil
                || shard.streams[id].map { $0.expiresAt > now && !$0.events.isEmpty } ?? false
                || !shard.liveChainIds(id, now: now).isEmpty
                || shard.commandQueues[id].map { $0.expiresAt > now && !$0.items.isEmpty } ?? false
                || shard.inputQueues[id].map { $0.expiresAt > now && !$0.items.isEmpty } ?? false
            guard existed else { return (false, [], nil) }
            let chainIds = shard.chainIds.removeValue(forKey: id)?.value ?? []
            shard.sessions[id] = nil
            shard.commandQueues[id] = nil
            shard.inputQueues[id] = nil
            // The stream starts again at seq 1 under a new epoch, which subscribers are told.
            if shard.streams[id] == nil { shard.track(.stream, id, deadline: deadline) }
            let fresh = MemoryShard.EventLog(epoch: StreamEpoch.next(), expiresAt: deadline)
            shard.streams[id] = fresh
            return (existed, chainIds, shard.post(.reset(sessionId: id, epoch: fresh.epoch)))
        }
        publish(direct, shard: index)
        for chainId in chainIds {
            shards[shard(chainId)].withLock { $0.chains[chainId] = nil }
        }
        done(.success(existed))
    }

    // MARK: Chains

    public func addChain(_ chain: StoredChain, _ done: @escaping (Result<Void, StoreError>) -> Void) {
        let now = clock()
        let deadline = sessionDeadline
        shards[shard(chain.sessionId)].withLock { shard in
            let current = shard.chainIds.removeValue(forKey: chain.sessionId)
            if current == nil { shard.track(.chainIds, chain.sessionId, deadline: deadline) }
            var ids = current.flatMap { $0.expiresAt > now ? $0.value : nil } ?? []
            ids.append(chain.id)
            shard.chainIds[chain.sessionId] = .init(value: ids, expiresAt: deadline)
        }
        shards[shard(chain.id)].withLock { shard in
            if shard.chains[chain.id] == nil { shard.track(.chain, chain.id, deadline: deadline) }
            shard.chains[chain.id] = .init(value: chain, expiresAt: deadline)
        }
        done(.success(()))
    }

    public func chains(sessionId: String, _ done: @escaping (Result<[StoredChain], StoreError>) -> Void) {
        let now = clock()
        let ids = shards[shard(sessionId)].withLock { $0.liveChainIds(sessionId, now: now) }
        let list = ids.compactMap { id in
            shards[shard(id)].withLock { $0.chains[id].flatMap { $0.expiresAt > now ? $0.value : nil } }
        }
        done(.success(list))
    }

    public func chain(id: String, _ done: @escaping (Result<StoredChain?, StoreError>) -> Void) {
        let now = clock()
        done(.success(shards[shard(id)].withLock { $0.chains[id].flatMap { $0.expiresAt > now ? $0.value : nil } }))
    }

    // MARK: Queues

    public func enqueue(_ kind: QueueKind, sessionId: String, item: QueuedItem, push: [UInt8], _ done: @escaping (Result<Void, StoreError>) -> Void) {
        let now = clock()
        let deadline = queueDeadline
        let maxLength = settings.maxQueueLength
        let index = shard(sessionId)
        let (accepted, direct) = shards[index].withLock { shard -> (Bool, BusMessage?) in
            let taken = kind == .commands ? shard.commandQueues.removeValue(forKey: sessionId) : shard.inputQueues.removeValue(forKey: sessionId)
            if taken == nil { shard.track(kind == .commands ? .commandQueue : .inputQueue, sessionId, deadline: deadline) }
            var queue = taken.flatMap { $0.expiresAt > now ? $0 : nil } ?? MemoryShard.Queue()
            let accepted = queue.items.count < maxLength
            var direct: BusMessage?
            if accepted {
                queue.items.append(item)
                queue.expiresAt = deadline
                direct = shard.post(.push(sessionId: sessionId, message: push))
            }
            switch kind {
            case .commands: shard.commandQueues[sessionId] = queue
            case .input: shard.inputQueues[sessionId] = queue
            }
            return (accepted, direct)
        }
        guard accepted else {
            return done(.failure(.full("the \(kind.rawValue) queue of session \(sessionId) holds \(maxLength) items: drain it first")))
        }
        if kind == .commands, let id = CommandID.extract(from: item.json) {
            shards[shard(id)].withLock { shard in
                if shard.commands[id] == nil { shard.track(.command, id, deadline: deadline) }
                shard.commands[id] = .init(value: item.json, expiresAt: deadline)
            }
        }
        publish(direct, shard: index)
        done(.success(()))
    }

    public func drain(_ kind: QueueKind, sessionId: String, _ done: @escaping (Result<[QueuedItem], StoreError>) -> Void) {
        let now = clock()
        let items = shards[shard(sessionId)].withLock { shard -> [QueuedItem] in
            let queue: MemoryShard.Queue?
            switch kind {
            case .commands: queue = shard.commandQueues.removeValue(forKey: sessionId)
            case .input: queue = shard.inputQueues.removeValue(forKey: sessionId)
            }
            guard let queue, queue.expiresAt > now else { return [] }
            return queue.items
        }
        done(.success(items))
    }

    public func acknowledgeCommand(id: String, ack: [UInt8], _ done: @escaping (Result<Bool, StoreError>) -> Void) {
        let now = clock()
        let known = shards[shard(id)].withLock { shard -> Bool in
            guard let entry = shard.commands[id], entry.expiresAt > now else { return false }
            shard.commands[id] = .init(value: ack, expiresAt: entry.expiresAt)
            return true
        }
        done(.success(known))
    }
}
