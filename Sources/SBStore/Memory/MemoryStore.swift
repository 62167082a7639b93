public import SBCore
import DequeModule

/// The embedded store for a single instance: one lock around plain dictionaries.
///
/// Appends publish to the bus while the lock is held, so events of a session reach every
/// loop's mailbox in exactly `seq` order even when two loops append to it at once.
public final class MemoryStore: Store, Sendable {
    public let kind = StorageKind.memory
    public var isAvailable: Bool { true }
    private let state = Locked(MemoryState())
    private let settings: StoreSettings
    private let listener: Locked<(any BusListener)?> = Locked(nil)
    private let clock: @Sendable () -> Int64

    /// `clock` gives monotonic milliseconds; tests inject one to expire data without sleeping.
    public init(settings: StoreSettings, clock: @escaping @Sendable () -> Int64 = { Int64(MonotonicClock.now() / 1_000_000) }) {
        self.settings = settings
        self.clock = clock
    }

    public func setListener(_ listener: any BusListener) {
        self.listener.withLock { $0 = listener }
    }

    private var sessionDeadline: Int64 { clock() + Int64(settings.sessionTTLSeconds) * 1000 }
    private var queueDeadline: Int64 { clock() + Int64(settings.queueTTLSeconds) * 1000 }

    /// Removes expired data; the hub calls this from a timer.
    public func sweepExpired() {
        let now = clock()
        state.withLock { $0.sweep(now: now) }
    }

    // MARK: Events

    public func appendEvents(_ events: [NewEvent], _ done: @escaping (Result<[AppendedEvent], StoreError>) -> Void) {
        let now = clock()
        let deadline = sessionDeadline
        let bus = listener.withLock { $0 }
        let limit = max(settings.historyLimit, 1)
        let appended = state.withLock { state -> [AppendedEvent] in
            var results: [AppendedEvent] = []
            results.reserveCapacity(events.count)
            for event in events {
                // Take the log out of the dictionary so appending does not copy its storage.
                var log = state.logs.removeValue(forKey: event.sessionId).flatMap { $0.expiresAt > now ? $0 : nil } ?? MemoryState.EventLog()
                log.lastSeq += 1
                let stored = StoredEvent(seq: log.lastSeq, json: StoredEventJSON.make(seq: log.lastSeq, body: event.body))
                log.events.append(stored)
                log.timestamps.append(event.timestampMillis)
                while log.events.count > limit {
                    log.events.removeFirst()
                    log.timestamps.removeFirst()
                }
                log.expiresAt = deadline
                state.logs[event.sessionId] = log
                results.append(AppendedEvent(sessionId: event.sessionId, eventId: event.eventId, seq: stored.seq))
                bus?.receive(.event(sessionId: event.sessionId, seq: stored.seq, json: stored.json))
            }
            return results
        }
        done(.success(appended))
    }

    public func events(sessionId: String, query: EventQuery, _ done: @escaping (Result<[StoredEvent], StoreError>) -> Void) {
        let now = clock()
        let result = state.withLock { state -> [StoredEvent] in
            guard let log = state.logs[sessionId], log.expiresAt > now else { return [] }
            var matching: [StoredEvent] = []
            // Events are in seq order: skip the prefix at or below `after` quickly.
            let firstSeq = log.events.first?.seq ?? 1
            var start = 0
            if let after = query.after, after >= firstSeq {
                start = Int(min(after - firstSeq + 1, Int64(log.events.count)))
            }
            for i in start..<log.events.count {
                if let since = query.sinceMillis, log.timestamps[i] < since { continue }
                matching.append(log.events[i])
            }
            return matching
        }
        done(.success(EventQueryWindow.apply(query, to: result)))
    }

    // MARK: Sessions

    public func createSession(_ session: Session, _ done: @escaping (Result<Void, StoreError>) -> Void) {
        let deadline = sessionDeadline
        state.withLock { $0.sessions[session.id] = .init(value: session, expiresAt: deadline) }
        done(.success(()))
    }

    public func session(id: String, _ done: @escaping (Result<Session?, StoreError>) -> Void) {
        let now = clock()
        done(.success(state.withLock { $0.liveSession(id, now: now) }))
    }

    public func listSessions(_ done: @escaping (Result<[SessionSummary], StoreError>) -> Void) {
        let now = clock()
        let list = state.withLock { state in
            state.sessions.values
                .filter { $0.expiresAt > now }
                .map { SessionSummary(session: $0.value, chainsCount: state.liveChainIds($0.value.id, now: now).count) }
        }
        done(.success(list.sorted { ($0.session.startedAt, $0.session.id) < ($1.session.startedAt, $1.session.id) }))
    }

    public func updateSession(id: String, _ update: SessionUpdate, _ done: @escaping (Result<Session?, StoreError>) -> Void) {
        let now = clock()
        let deadline = sessionDeadline
        let updated = state.withLock { state -> Session? in
            guard var session = state.liveSession(id, now: now) else { return nil }
            session.apply(update)
            state.sessions[id] = .init(value: session, expiresAt: deadline)
            return session
        }
        done(.success(updated))
    }

    public func deleteSession(id: String, _ done: @escaping (Result<Bool, StoreError>) -> Void) {
        let now = clock()
        let existed = state.withLock { state -> Bool in
            let existed = state.liveSession(id, now: now) != nil
            state.sessions[id] = nil
            state.logs[id] = nil
            for chainId in state.chainIds[id]?.value ?? [] { state.chains[chainId] = nil }
            state.chainIds[id] = nil
            state.commandQueues[id] = nil
            state.inputQueues[id] = nil
            return existed
        }
        done(.success(existed))
    }

    // MARK: Chains

    public func addChain(_ chain: StoredChain, _ done: @escaping (Result<Void, StoreError>) -> Void) {
        let now = clock()
        let deadline = sessionDeadline
        state.withLock { state in
            var ids = state.chainIds.removeValue(forKey: chain.sessionId).flatMap { $0.expiresAt > now ? $0.value : nil } ?? []
            ids.append(chain.id)
            state.chainIds[chain.sessionId] = .init(value: ids, expiresAt: deadline)
            state.chains[chain.id] = .init(value: chain, expiresAt: deadline)
        }
        done(.success(()))
    }

    public func chains(sessionId: String, _ done: @escaping (Result<[StoredChain], StoreError>) -> Void) {
        let now = clock()
        let list = state.withLock { state in
            state.liveChainIds(sessionId, now: now).compactMap { id in
                state.chains[id].flatMap { $0.expiresAt > now ? $0.value : nil }
            }
        }
        done(.success(list))
    }

    public func chain(id: String, _ done: @escaping (Result<StoredChain?, StoreError>) -> Void) {
        let now = clock()
        done(.success(state.withLock { $0.chains[id].flatMap { $0.expiresAt > now ? $0.value : nil } }))
    }

    // MARK: Queues

    public func enqueue(_ kind: QueueKind, sessionId: String, item: QueuedItem, push: [UInt8], _ done: @escaping (Result<Void, StoreError>) -> Void) {
        let now = clock()
        let deadline = queueDeadline
        let bus = listener.withLock { $0 }
        state.withLock { state in
            let taken = kind == .commands ? state.commandQueues.removeValue(forKey: sessionId) : state.inputQueues.removeValue(forKey: sessionId)
            var queue = taken.flatMap { $0.expiresAt > now ? $0 : nil } ?? MemoryState.Queue()
            queue.items.append(item)
            queue.expiresAt = deadline
            switch kind {
            case .commands:
                state.commandQueues[sessionId] = queue
                if let id = CommandID.extract(from: item.json) {
                    state.commands[id] = .init(value: item.json, expiresAt: deadline)
                }
            case .input:
                state.inputQueues[sessionId] = queue
            }
            bus?.receive(.push(sessionId: sessionId, message: push))
        }
        done(.success(()))
    }

    public func drain(_ kind: QueueKind, sessionId: String, _ done: @escaping (Result<[QueuedItem], StoreError>) -> Void) {
        let now = clock()
        let items = state.withLock { state -> [QueuedItem] in
            let queue: MemoryState.Queue?
            switch kind {
            case .commands: queue = state.commandQueues.removeValue(forKey: sessionId)
            case .input: queue = state.inputQueues.removeValue(forKey: sessionId)
            }
            guard let queue, queue.expiresAt > now else { return [] }
            return queue.items
        }
        done(.success(items))
    }

    public func acknowledgeCommand(id: String, ack: [UInt8], _ done: @escaping (Result<Bool, StoreError>) -> Void) {
        let now = clock()
        let known = state.withLock { state -> Bool in
            guard let entry = state.commands[id], entry.expiresAt > now else { return false }
            state.commands[id] = .init(value: ack, expiresAt: entry.expiresAt)
            return true
        }
        done(.success(known))
    }
}
