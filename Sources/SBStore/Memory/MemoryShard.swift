import DequeModule

/// One slice of `MemoryStore`'s data, guarded by its own lock. A key lives in the shard its
/// hash picks, so requests for different sessions rarely wait for each other. Deadlines are
/// monotonic milliseconds.
struct MemoryShard {
    struct EventLog {
        var epoch: String
        var lastSeq: Int64 = 0
        var events = Deque<StoredEvent>()
        /// Event timestamps (ms) parallel to `events`, for `since` and `/recent` queries.
        var timestamps = Deque<Int64>()
        var expiresAt: Int64

        init(epoch: String, expiresAt: Int64) {
            self.epoch = epoch
            self.expiresAt = expiresAt
        }

        var oldestSeq: Int64 { events.first?.seq ?? lastSeq + 1 }
    }

    struct Queue {
        var items: [QueuedItem] = []
        var expiresAt: Int64 = 0
    }

    struct Expiring<Value> {
        var value: Value
        var expiresAt: Int64
    }

    /// Which map an expiry entry points into.
    enum Map {
        case session, stream, chainIds, chain, commandQueue, inputQueue, command, idempotency
    }

    struct ExpiryEntry {
        var map: Map
        var key: String
        var deadline: Int64
    }

    var sessions: [String: Expiring<Session>] = [:]
    var streams: [String: EventLog] = [:]
    var chainIds: [String: Expiring<[String]>] = [:]
    var chains: [String: Expiring<StoredChain>] = [:]
    var commandQueues: [String: Queue] = [:]
    var inputQueues: [String: Queue] = [:]
    var commands: [String: Expiring<[UInt8]>] = [:]
    /// "sessionId NUL key" → the first append's result.
    var idempotency: [String: Expiring<AppendedEvent>] = [:]

    /// Keys in the order they were created, one entry each. Lifetimes are refreshed in place;
    /// the sweep re-queues an entry whose key lives on, so each pass does bounded work.
    var expiryQueue = Deque<ExpiryEntry>()
    /// Idempotency keys are never refreshed, so their queue is in deadline order and doubles as
    /// the eviction order when the map is full.
    var idempotencyQueue = Deque<ExpiryEntry>()

    /// Bus messages produced under this shard's lock, published in order after it is released.
    var outbox: [BusMessage] = []
    var publishing = false

    /// Queues a bus message produced under this shard's lock. When nobody is publishing and
    /// nothing waits, the caller becomes the publisher and gets the message back to publish
    /// after unlocking (no queue, no allocation); otherwise the current publisher sends it.
    mutating func post(_ message: BusMessage) -> BusMessage? {
        if !publishing, outbox.isEmpty {
            publishing = true
            return message
        }
        outbox.append(message)
        return nil
    }

    mutating func track(_ map: Map, _ key: String, deadline: Int64) {
        expiryQueue.append(ExpiryEntry(map: map, key: key, deadline: deadline))
    }

    /// Incremental expiry, like Redis's active-expire cycle: looks at no more than `budget`
    /// entries whose recorded deadline has passed. Returns how many keys it removed.
    mutating func sweep(now: Int64, budget: Int) -> Int {
        var removed = 0
        var looked = 0
        while looked < budget, let entry = expiryQueue.first, entry.deadline <= now {
            expiryQueue.removeFirst()
            looked += 1
            guard let actual = deadline(of: entry.map, entry.key) else { continue }  // already gone
            if actual <= now {
                remove(entry.map, entry.key)
                removed += 1
            } else {
                expiryQueue.append(ExpiryEntry(map: entry.map, key: entry.key, deadline: actual))
            }
        }
        while looked < budget, let entry = idempotencyQueue.first, entry.deadline <= now {
            idempotencyQueue.removeFirst()
            looked += 1
            if let actual = idempotency[entry.key]?.expiresAt, actual <= now {
                idempotency[entry.key] = nil
                removed += 1
            }
        }
        return removed
    }

    private func deadline(of map: Map, _ key: String) -> Int64? {
        switch map {
        case .session: sessions[key]?.expiresAt
        case .stream: streams[key]?.expiresAt
        case .chainIds: chainIds[key]?.expiresAt
        case .chain: chains[key]?.expiresAt
        case .commandQueue: commandQueues[key]?.expiresAt
        case .inputQueue: inputQueues[key]?.expiresAt
        case .command: commands[key]?.expiresAt
        case .idempotency: idempotency[key]?.expiresAt
        }
    }

    private mutating func remove(_ map: Map, _ key: String) {
        switch map {
        case .session: sessions[key] = nil
        case .stream: streams[key] = nil
        case .chainIds: chainIds[key] = nil
        case .chain: chains[key] = nil
        case .commandQueue: commandQueues[key] = nil
        case .inputQueue: inputQueues[key] = nil
        case .command: commands[key] = nil
        case .idempotency: idempotency[key] = nil
        }
    }

    func liveSession(_ id: String, now: Int64) -> Session? {
        guard let entry = sessions[id], entry.expiresAt > now else { return nil }
        return entry.value
    }

    func liveChainIds(_ sessionId: String, now: Int64) -> [String] {
        guard let entry = chainIds[sessionId], entry.expiresAt > now else { return [] }
        return entry.value
    }

    /// The session's stream, started under a new epoch when it is absent or expired.
    mutating func takeStream(_ sessionId: String, now: Int64, deadline: Int64) -> EventLog {
        if let log = streams.removeValue(forKey: sessionId), log.expiresAt > now { return log }
        track(.stream, sessionId, deadline: deadline)
        return EventLog(epoch: StreamEpoch.next(), expiresAt: deadline)
    }
}
