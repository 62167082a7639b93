import DequeModule

/// One slice of `MemoryStore`'s data, guarded by its own lock. A key lives in the shard its
/// hash picks, so requests for different sessions rarely wait for each other. Deadlines are
/// monotonic milliseconds.
///
/// The maps change only through the `set…` methods, which keep `bytes` (this shard's share of
/// MEMORY_STORE_MAX_BYTES, `MemoryFootprint`) equal to the sum of what the maps hold.
struct MemoryShard {
    struct EventLog {
        var epoch: String
        var lastSeq: Int64 = 0
        var events = Deque<StoredEvent>()
        /// Event timestamps (ms) parallel to `events`, for `since` and `/recent` queries.
        var timestamps = Deque<Int64>()
        var expiresAt: Int64
        /// `MemoryFootprint` of `events`, kept as they come and go.
        var eventBytes = 0

        init(epoch: String, expiresAt: Int64) {
            self.epoch = epoch
            self.expiresAt = expiresAt
        }

        var oldestSeq: Int64 { events.first?.seq ?? lastSeq + 1 }

        mutating func append(_ event: StoredEvent, timestamp: Int64) {
            events.append(event)
            timestamps.append(timestamp)
            eventBytes += MemoryFootprint.event(event)
        }

        mutating func trim(to limit: Int) {
            while events.count > limit, let dropped = events.popFirst() {
                timestamps.removeFirst()
                eventBytes -= MemoryFootprint.event(dropped)
            }
        }
    }

    struct Queue {
        private(set) var items: [QueuedItem] = []
        var expiresAt: Int64 = 0
        /// `MemoryFootprint` of `items`.
        private(set) var itemBytes = 0

        mutating func append(_ item: QueuedItem) {
            items.append(item)
            itemBytes += MemoryFootprint.item + item.json.count
        }
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

    private(set) var sessions: [String: Expiring<Session>] = [:]
    private(set) var streams: [String: EventLog] = [:]
    private(set) var chainIds: [String: Expiring<[String]>] = [:]
    private(set) var chains: [String: Expiring<StoredChain>] = [:]
    private(set) var commandQueues: [String: Queue] = [:]
    private(set) var inputQueues: [String: Queue] = [:]
    private(set) var commands: [String: Expiring<[UInt8]>] = [:]
    /// "sessionId NUL key" → the first append's result.
    private(set) var idempotency: [String: Expiring<AppendedEvent>] = [:]
    /// Estimated bytes held by this shard (`MemoryFootprint`).
    private(set) var bytes = 0
    /// Session ids kept in this shard by last write, oldest first: the eviction order.
    private(set) var recency = RecencyList()

    /// Keys in the order they were created, one entry each. Lifetimes are refreshed in place;
    /// the sweep re-queues an entry whose key lives on, so each pass does bounded work.
    private(set) var expiryQueue = Deque<ExpiryEntry>()
    /// Idempotency keys are never refreshed, so their queue is in deadline order and doubles as
    /// the eviction order when the map is full.
    private(set) var idempotencyQueue = Deque<ExpiryEntry>()

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

    // MARK: Accounted changes

    mutating func setSession(_ id: String, _ value: Expiring<Session>?) {
        let old = value.map { sessions.updateValue($0, forKey: id) } ?? sessions.removeValue(forKey: id)
        bytes += (value.map { MemoryFootprint.key(id) + MemoryFootprint.session($0.value) } ?? 0)
            - (old.map { MemoryFootprint.key(id) + MemoryFootprint.session($0.value) } ?? 0)
    }

    /// Streams are taken out (`takeStream`) and put back, so appending never copies their storage.
    mutating func setStream(_ id: String, _ value: EventLog?) {
        let old = value.map { streams.updateValue($0, forKey: id) } ?? streams.removeValue(forKey: id)
        bytes += (value.map { Self.footprint(id, $0) } ?? 0) - (old.map { Self.footprint(id, $0) } ?? 0)
    }

    mutating func setChainIds(_ sessionId: String, _ value: Expiring<[String]>?) {
        let old = value.map { chainIds.updateValue($0, forKey: sessionId) } ?? chainIds.removeValue(forKey: sessionId)
        bytes += (value.map { MemoryFootprint.key(sessionId) + MemoryFootprint.chainIds($0.value) } ?? 0)
            - (old.map { MemoryFootprint.key(sessionId) + MemoryFootprint.chainIds($0.value) } ?? 0)
    }

    mutating func setChain(_ id: String, _ value: Expiring<StoredChain>?) {
        let old = value.map { chains.updateValue($0, forKey: id) } ?? chains.removeValue(forKey: id)
        bytes += (value.map { MemoryFootprint.key(id) + MemoryFootprint.chain($0.value) } ?? 0)
            - (old.map { MemoryFootprint.key(id) + MemoryFootprint.chain($0.value) } ?? 0)
    }

    mutating func setQueue(_ kind: QueueKind, _ sessionId: String, _ value: Queue?) {
        let old: Queue?
        switch kind {
        case .commands: old = value.map { commandQueues.updateValue($0, forKey: sessionId) } ?? commandQueues.removeValue(forKey: sessionId)
        case .input: old = value.map { inputQueues.updateValue($0, forKey: sessionId) } ?? inputQueues.removeValue(forKey: sessionId)
        }
        bytes += (value.map { MemoryFootprint.key(sessionId) + $0.itemBytes } ?? 0) - (old.map { MemoryFootprint.key(sessionId) + $0.itemBytes } ?? 0)
    }

    mutating func setCommand(_ id: String, _ value: Expiring<[UInt8]>?) {
        let old = value.map { commands.updateValue($0, forKey: id) } ?? commands.removeValue(forKey: id)
        bytes += (value.map { MemoryFootprint.key(id) + MemoryFootprint.item + $0.value.count } ?? 0)
            - (old.map { MemoryFootprint.key(id) + MemoryFootprint.item + $0.value.count } ?? 0)
    }

    private mutating func setIdempotency(_ key: String, _ value: Expiring<AppendedEvent>?) {
        let old = value.map { idempotency.updateValue($0, forKey: key) } ?? idempotency.removeValue(forKey: key)
        bytes += (value.map { MemoryFootprint.key(key) + MemoryFootprint.appended($0.value) } ?? 0)
            - (old.map { MemoryFootprint.key(key) + MemoryFootprint.appended($0.value) } ?? 0)
    }

    private static func footprint(_ id: String, _ log: EventLog) -> Int {
        MemoryFootprint.key(id) + MemoryFootprint.string(log.epoch) + log.eventBytes
    }

    /// Remembers an append under its idempotency key; beyond `capacity` keys the oldest is
    /// forgotten early.
    mutating func remember(_ appended: AppendedEvent, as key: String, until deadline: Int64, capacity: Int) {
        if idempotency[key] == nil {
            idempotencyQueue.append(.init(map: .idempotency, key: key, deadline: deadline))
        }
        setIdempotency(key, .init(value: appended, expiresAt: deadline))
        while idempotency.count > capacity, let oldest = idempotencyQueue.popFirst() {
            setIdempotency(oldest.key, nil)
        }
    }

    /// The session was written now: it moves to the newest end of the eviction order.
    mutating func touch(_ sessionId: String, now: Int64) {
        if !recency.contains(sessionId) { bytes += MemoryFootprint.recency(sessionId) }
        recency.touch(sessionId, now: now)
    }

    /// A session read for the first time (a subscriber's first read starts its stream) enters
    /// the eviction order without moving one that is already in it: only writes move it.
    mutating func enroll(_ sessionId: String, now: Int64) {
        if !recency.contains(sessionId) { touch(sessionId, now: now) }
    }

    /// Drops the session from the eviction order once none of its data is left here.
    mutating func forgetIfGone(_ sessionId: String) {
        guard recency.contains(sessionId), sessions[sessionId] == nil, streams[sessionId] == nil, chainIds[sessionId] == nil,
              commandQueues[sessionId] == nil, inputQueues[sessionId] == nil else { return }
        recency.remove(sessionId)
        bytes -= MemoryFootprint.recency(sessionId)
    }

    // MARK: Expiry

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
                setIdempotency(entry.key, nil)
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
        case .session: setSession(key, nil)
        case .stream: setStream(key, nil)
        case .chainIds: setChainIds(key, nil)
        case .chain: setChain(key, nil)
        case .commandQueue: setQueue(.commands, key, nil)
        case .inputQueue: setQueue(.input, key, nil)
        case .command: setCommand(key, nil)
        case .idempotency: setIdempotency(key, nil)
        }
        switch map {
        case .session, .stream, .chainIds, .commandQueue, .inputQueue: forgetIfGone(key)
        case .chain, .command, .idempotency: break
        }
    }

    // MARK: Eviction (MEMORY_STORE_MAX_BYTES)

    enum Evictable: Equatable {
        case session(String)
        /// An idempotency key (they are not indexed by session, so they go by age of their own).
        case idempotencyKey(String)
    }

    /// The least recently written thing this shard may give up, and when it was written: the
    /// oldest session that is not `spared` and has no local subscriber, or the oldest
    /// idempotency key if that is older. A watched or spared session met on the way counts as
    /// written now (it moves to the newest end), so the next look does not meet it again; at
    /// most `lookLimit` are passed over.
    mutating func oldestEvictable(sparing spared: Set<String>, isWatched: (String) -> Bool, idempotencyTTL: Int64,
                                  now: Int64, lookLimit: Int) -> (what: Evictable, writtenAt: Int64)? {
        var session: (key: String, writtenAt: Int64)?
        var looked = 0
        while let oldest = recency.oldest, looked < min(lookLimit, recency.count) {
            if !spared.contains(oldest.key) && !isWatched(oldest.key) {
                session = oldest
                break
            }
            recency.touch(oldest.key, now: now)
            looked += 1
        }
        let key = idempotencyQueue.first.map { (key: $0.key, writtenAt: $0.deadline - idempotencyTTL) }
        switch (session, key) {
        case (let session?, let key?) where key.writtenAt < session.writtenAt: return (.idempotencyKey(key.key), key.writtenAt)
        case (let session?, _): return (.session(session.key), session.writtenAt)
        case (nil, let key?): return (.idempotencyKey(key.key), key.writtenAt)
        case (nil, nil): return nil
        }
    }

    /// Removes everything of the session kept in this shard: record, stream, chain list, queues,
    /// and its place in the eviction order. Returns its chain ids (chains live in their own shards).
    mutating func evictSession(_ id: String) -> [String] {
        let chainIds = self.chainIds[id]?.value ?? []
        setSession(id, nil)
        setStream(id, nil)
        setChainIds(id, nil)
        setQueue(.commands, id, nil)
        setQueue(.input, id, nil)
        forgetIfGone(id)
        compactExpiryQueueIfMostlyStale()
        return chainIds
    }

    mutating func evictIdempotencyKey(_ key: String) {
        guard idempotencyQueue.first?.key == key else { return }
        idempotencyQueue.removeFirst()
        setIdempotency(key, nil)
    }

    /// Removed keys leave their expiry entries behind until their deadline (a day, by default);
    /// under steady eviction those would pile up unbudgeted. When most entries are stale, the
    /// queue is rebuilt with one entry per live key: O(n) once per n removals.
    mutating func compactExpiryQueueIfMostlyStale() {
        let live = sessions.count + streams.count + chainIds.count + chains.count + commandQueues.count + inputQueues.count + commands.count
        guard expiryQueue.count > 2 * live + 1024 else { return }
        struct Tracked: Hashable {
            var map: Map
            var key: String
        }
        var seen = Set<Tracked>()
        var kept = Deque<ExpiryEntry>()
        kept.reserveCapacity(live)
        for entry in expiryQueue where deadline(of: entry.map, entry.key) != nil {
            if seen.insert(Tracked(map: entry.map, key: entry.key)).inserted { kept.append(entry) }
        }
        expiryQueue = kept
    }

    // MARK: Reads

    func liveSession(_ id: String, now: Int64) -> Session? {
        guard let entry = sessions[id], entry.expiresAt > now else { return nil }
        return entry.value
    }

    func liveChainIds(_ sessionId: String, now: Int64) -> [String] {
        guard let entry = chainIds[sessionId], entry.expiresAt > now else { return [] }
        return entry.value
    }

    /// The session's stream, taken out of the map (put it back with `setStream`), started under
    /// a new epoch when it is absent or expired.
    /// Runs `change` on the session's stream where it is stored (one hash lookup, its storage
    /// not copied, its footprint re-accounted), when it exists and has not expired; nil and
    /// nothing run otherwise (`takeStream` then starts it). Every append passes here: taking the
    /// log out and putting it back cost three lookups and a removal.
    mutating func updateLiveStream<Result>(_ sessionId: String, now: Int64, _ change: (inout EventLog) -> Result) -> Result? {
        var grown = 0
        let result = Self.inPlace(&streams[sessionId]) { (log: inout EventLog?) -> Result? in
            guard log != nil, log!.expiresAt > now else { return nil }
            let before = Self.footprint(sessionId, log!)
            let result = change(&log!)
            grown = Self.footprint(sessionId, log!) - before
            return result
        }
        bytes += grown
        return result
    }

    private static func inPlace<Value, Result>(_ value: inout Value, _ body: (inout Value) -> Result) -> Result {
        body(&value)
    }

    mutating func takeStream(_ sessionId: String, now: Int64, deadline: Int64) -> EventLog {
        let current = streams[sessionId] == nil ? nil : streams.removeValue(forKey: sessionId)
        if let current { bytes -= Self.footprint(sessionId, current) }
        if let current, current.expiresAt > now { return current }
        if current == nil { track(.stream, sessionId, deadline: deadline) }
        return EventLog(epoch: StreamEpoch.next(), expiresAt: deadline)
    }

    /// Takes a session's queue out of its map (accounted); put it back with `setQueue`.
    mutating func takeQueue(_ kind: QueueKind, _ sessionId: String) -> Queue? {
        let queue: Queue?
        switch kind {
        case .commands: queue = commandQueues.removeValue(forKey: sessionId)
        case .input: queue = inputQueues.removeValue(forKey: sessionId)
        }
        if let queue { bytes -= MemoryFootprint.key(sessionId) + queue.itemBytes }
        return queue
    }
}
