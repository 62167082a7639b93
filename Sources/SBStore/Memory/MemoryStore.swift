public import Logging
public import SBCore
import DequeModule
import Synchronization

/// The embedded store for a single instance: plain dictionaries split into shards by key hash,
/// each behind its own lock, so requests for different sessions rarely wait for each other.
///
/// Bus messages are handed over under the lock that assigned their seq (`MemoryShard.post`)
/// and published after it is released, by one publisher per shard at a time: a session's
/// events reach every loop in exactly `seq` order, and no WebSocket frame is built under a lock.
///
/// Everything it holds is counted (`MemoryFootprint`) against `MemoryBudget`: a write that would
/// go past it first evicts the least recently written sessions that have no local subscriber
/// (`MemoryStore+Budget.swift`), or is refused with `.outOfMemory` when eviction is off.
public final class MemoryStore: Store, Sendable {
    public let kind = StorageKind.memory
    public var isAvailable: Bool { true }
    static let shardCount = 16
    /// Expired keys examined per shard per sweep (the sweep runs every second).
    static let sweepBudget = 1000
    /// Idempotency keys remembered per shard; beyond it the oldest is forgotten early.
    static let maxIdempotencyKeysPerShard = 65_536

    let shards: [Locked<MemoryShard>]
    let settings: StoreSettings
    let budget: MemoryBudget
    let logger: Logger?
    let listener: Locked<(any BusListener)?> = Locked(nil)
    let clock: @Sendable () -> Int64
    /// The sum of every shard's `bytes`: each change is added after its shard's lock is released.
    private let storedBytes = Atomic<Int>(0)
    let warnings = Locked(WarningLimiter(interval: 10_000_000_000))

    /// `clock` gives monotonic milliseconds; tests inject one to expire data without sleeping.
    public init(settings: StoreSettings, budget: MemoryBudget = .unlimited, logger: Logger? = nil,
                clock: @escaping @Sendable () -> Int64 = { Int64(MonotonicClock.now() / 1_000_000) }) {
        self.settings = settings
        self.budget = budget
        self.logger = logger
        self.clock = clock
        shards = (0..<Self.shardCount).map { _ in Locked(MemoryShard()) }
    }

    /// Bytes counted against MEMORY_STORE_MAX_BYTES now (`MemoryFootprint`).
    public var countedBytes: Int { storedBytes.load(ordering: .relaxed) }

    public var memoryBudgetUsage: (countedBytes: Int, maxBytes: Int)? { (countedBytes, budget.maxBytes) }

    /// Runs `body` under the shard's lock and adds what it changed to the total.
    func withShard<Result>(_ index: Int, _ body: (inout MemoryShard) -> Result) -> Result {
        let (result, change) = shards[index].withLock { shard -> (Result, Int) in
            let before = shard.bytes
            let result = body(&shard)
            return (result, shard.bytes - before)
        }
        if change != 0 { storedBytes.add(change, ordering: .relaxed) }
        return result
    }

    public func setListener(_ listener: any BusListener) {
        self.listener.withLock { $0 = listener }
    }

    func shard(_ key: String) -> Int {
        Int(UInt(bitPattern: key.hashValue) % UInt(Self.shardCount))
    }

    private var sessionDeadline: Int64 { clock() + Int64(settings.sessionTTLSeconds) * 1000 }
    private var queueDeadline: Int64 { clock() + Int64(settings.queueTTLSeconds) * 1000 }

    /// Removes expired data with bounded work per shard; the wiring calls this every second.
    /// Returns the number of keys removed.
    @discardableResult
    public func sweepExpired() -> Int {
        let now = clock()
        return shards.indices.reduce(0) { total, index in total + withShard(index) { $0.sweep(now: now, budget: Self.sweepBudget) } }
    }

    /// Publishes `first` (the caller became the shard's publisher in `post`), then whatever
    /// other callers queued meanwhile, in order, and gives the publisher role back.
    func publish(_ first: BusMessage?, shard index: Int) {
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
        if let refusal = makeRoom(for: MemoryFootprint.appending(events), sparing: Set(events.map(\.sessionId))) { return done(.failure(refusal)) }
        var results: [AppendedEvent] = []
        results.reserveCapacity(events.count)
        for event in events {
            let index = shard(event.sessionId)
            let (result, direct) = withShard(index) { shard -> (AppendedEvent, BusMessage?) in
                let idempotencyKey = event.idempotencyKey.map { event.sessionId + "\u{0}" + $0 }
                if let idempotencyKey, let first = shard.idempotency[idempotencyKey], first.expiresAt > now {
                    var repeated = first.value
                    repeated.duplicate = true
                    return (repeated, nil)
                }
                func append(to log: inout MemoryShard.EventLog) -> (stored: StoredEvent, epoch: String) {
                    log.lastSeq += 1
                    let stored = StoredEvent(seq: log.lastSeq, json: StoredEventJSON.make(seq: log.lastSeq, body: event.body))
                    log.append(stored, timestamp: event.timestampMillis)
                    log.trim(to: limit)
                    log.expiresAt = deadline
                    return (stored, log.epoch)
                }
                let stored: StoredEvent, epoch: String
                if let done = shard.updateLiveStream(event.sessionId, now: now, append(to:)) {
                    (stored, epoch) = done
                } else {
                    // New or expired: a fresh log (tracked for expiry), taken out and put back.
                    var log = shard.takeStream(event.sessionId, now: now, deadline: deadline)
                    (stored, epoch) = append(to: &log)
                    shard.setStream(event.sessionId, log)
                }
                shard.touch(event.sessionId, now: now)
                let appended = AppendedEvent(sessionId: event.sessionId, eventId: event.eventId, seq: stored.seq)
                if let idempotencyKey {
                    shard.remember(appended, as: idempotencyKey, until: idempotencyDeadline, capacity: Self.maxIdempotencyKeysPerShard)
                }
                return (appended, shard.post(.event(sessionId: event.sessionId, seq: stored.seq, epoch: epoch, json: stored.json,
                                                              acceptedAtMillis: WallClock.millisecondsSinceEpoch())))
            }
            results.append(result)
            publish(direct, shard: index)
        }
        done(.success(results))
    }

    public func readStream(sessionId: String, after: Int64, limit: PageLimit,
                           _ done: @escaping (Result<StreamPage, StoreError>) -> Void) {
        let now = clock()
        let deadline = sessionDeadline
        let page = withShard(shard(sessionId)) { shard -> StreamPage in
            let log = shard.takeStream(sessionId, now: now, deadline: deadline)
            shard.setStream(sessionId, log)
            shard.enroll(sessionId, now: now)
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
        let now = clock()
        let deadline = sessionDeadline
        let incoming = MemoryFootprint.key(session.id) + MemoryFootprint.session(session) + MemoryFootprint.recency(session.id)
        if let refusal = makeRoom(for: incoming, sparing: [session.id]) { return done(.failure(refusal)) }
        withShard(shard(session.id)) { shard in
            if shard.sessions[session.id] == nil { shard.track(.session, session.id, deadline: deadline) }
            shard.setSession(session.id, .init(value: session, expiresAt: deadline))
            shard.touch(session.id, now: now)
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
        let incoming = [update.status, update.summary, update.endReason, update.endedAt, update.updatedAt]
            .reduce(0) { $0 + MemoryFootprint.string($1) }
        if let refusal = makeRoom(for: incoming, sparing: [id]) { return done(.failure(refusal)) }
        let updated = withShard(shard(id)) { shard -> Session? in
            guard var session = shard.liveSession(id, now: now) else { return nil }
            session.apply(update)
            shard.setSession(id, .init(value: session, expiresAt: deadline))
            shard.touch(id, now: now)
            return session
        }
        done(.success(updated))
    }

    public func deleteSession(id: String, _ done: @escaping (Result<Bool, StoreError>) -> Void) {
        let now = clock()
        let deadline = sessionDeadline
        let index = shard(id)
        let (existed, chainIds, direct) = withShard(index) { shard -> (Bool, [String], BusMessage?) in
            // Anything of the session counts (record, events, chains, queues); with none of it
            // the answer is 404 and nothing changes: no new epoch, no reset sent.
            let existed = shard.liveSession(id, now: now) != nil
                || shard.streams[id].map { $0.expiresAt > now && !$0.events.isEmpty } ?? false
                || !shard.liveChainIds(id, now: now).isEmpty
                || shard.commandQueues[id].map { $0.expiresAt > now && !$0.items.isEmpty } ?? false
                || shard.inputQueues[id].map { $0.expiresAt > now && !$0.items.isEmpty } ?? false
            guard existed else { return (false, [], nil) }
            let chainIds = shard.chainIds[id]?.value ?? []
            shard.setChainIds(id, nil)
            shard.setSession(id, nil)
            shard.setQueue(.commands, id, nil)
            shard.setQueue(.input, id, nil)
            // The stream starts again at seq 1 under a new epoch, which subscribers are told.
            if shard.streams[id] == nil { shard.track(.stream, id, deadline: deadline) }
            let fresh = MemoryShard.EventLog(epoch: StreamEpoch.next(), expiresAt: deadline)
            shard.setStream(id, fresh)
            shard.touch(id, now: now)
            shard.compactExpiryQueueIfMostlyStale()
            return (existed, chainIds, shard.post(.reset(sessionId: id, epoch: fresh.epoch)))
        }
        publish(direct, shard: index)
        for chainId in chainIds {
            withShard(shard(chainId)) { $0.setChain(chainId, nil) }
        }
        done(.success(existed))
    }

    // MARK: Chains

    public func addChain(_ chain: StoredChain, _ done: @escaping (Result<Void, StoreError>) -> Void) {
        let now = clock()
        let deadline = sessionDeadline
        let incoming = MemoryFootprint.key(chain.id) + MemoryFootprint.chain(chain) + MemoryFootprint.key(chain.sessionId)
            + MemoryFootprint.chainIds([chain.id]) + MemoryFootprint.recency(chain.sessionId)
        if let refusal = makeRoom(for: incoming, sparing: [chain.sessionId]) { return done(.failure(refusal)) }
        withShard(shard(chain.sessionId)) { shard in
            let current = shard.chainIds[chain.sessionId]
            if current == nil { shard.track(.chainIds, chain.sessionId, deadline: deadline) }
            var ids = current.flatMap { $0.expiresAt > now ? $0.value : nil } ?? []
            ids.append(chain.id)
            shard.setChainIds(chain.sessionId, .init(value: ids, expiresAt: deadline))
            shard.touch(chain.sessionId, now: now)
        }
        withShard(shard(chain.id)) { shard in
            if shard.chains[chain.id] == nil { shard.track(.chain, chain.id, deadline: deadline) }
            shard.setChain(chain.id, .init(value: chain, expiresAt: deadline))
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

    public func enqueue(_ kind: QueueKind, sessionId: String, item: QueuedItem, _ done: @escaping (Result<Void, StoreError>) -> Void) {
        let now = clock()
        let deadline = queueDeadline
        let maxLength = settings.maxQueueLength
        let index = shard(sessionId)
        let incoming = MemoryFootprint.key(sessionId) + MemoryFootprint.item + item.json.count + MemoryFootprint.recency(sessionId)
            + (kind == .commands ? MemoryFootprint.entry + MemoryFootprint.item + item.json.count : 0)
        if let refusal = makeRoom(for: incoming, sparing: [sessionId]) { return done(.failure(refusal)) }
        let (accepted, direct) = withShard(index) { shard -> (Bool, BusMessage?) in
            let taken = shard.takeQueue(kind, sessionId)
            if taken == nil { shard.track(kind == .commands ? .commandQueue : .inputQueue, sessionId, deadline: deadline) }
            var queue = taken.flatMap { $0.expiresAt > now ? $0 : nil } ?? MemoryShard.Queue()
            let accepted = queue.items.count < maxLength
            var direct: BusMessage?
            if accepted {
                queue.append(item)
                queue.expiresAt = deadline
                direct = shard.post(.push(sessionId: sessionId, queue: kind, item: item.json))
            }
            shard.setQueue(kind, sessionId, queue)
            if accepted { shard.touch(sessionId, now: now) }
            return (accepted, direct)
        }
        guard accepted else {
            return done(.failure(.full("the \(kind.rawValue) queue of session \(sessionId) holds \(maxLength) items: drain it first")))
        }
        if kind == .commands, let id = CommandID.extract(from: item.json) {
            withShard(shard(id)) { shard in
                if shard.commands[id] == nil { shard.track(.command, id, deadline: deadline) }
                shard.setCommand(id, .init(value: item.json, expiresAt: deadline))
            }
        }
        publish(direct, shard: index)
        done(.success(()))
    }

    public func drain(_ kind: QueueKind, sessionId: String, _ done: @escaping (Result<[QueuedItem], StoreError>) -> Void) {
        let now = clock()
        let items = withShard(shard(sessionId)) { shard -> [QueuedItem] in
            let queue = shard.takeQueue(kind, sessionId)
            shard.forgetIfGone(sessionId)
            guard let queue, queue.expiresAt > now else { return [] }
            return queue.items
        }
        done(.success(items))
    }

    public func acknowledgeCommand(id: String, ack: [UInt8], _ done: @escaping (Result<Bool, StoreError>) -> Void) {
        let now = clock()
        if let refusal = makeRoom(for: ack.count, sparing: []) { return done(.failure(refusal)) }
        let known = withShard(shard(id)) { shard -> Bool in
            guard let entry = shard.commands[id], entry.expiresAt > now else { return false }
            shard.setCommand(id, .init(value: ack, expiresAt: entry.expiresAt))
            return true
        }
        done(.success(known))
    }
}
