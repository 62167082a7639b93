/// What the memory store counts against MEMORY_STORE_MAX_BYTES: the bytes it stores (event,
/// chain, queue-item and command JSON, every string of a session record, keys) plus a fixed
/// estimate per entry for what holding them costs (dictionary slot, expiry-queue entry,
/// allocation headers, array and string headers). The estimates are calibrated against RSS
/// (Tests/python/test_memory_budget.py measures it), not exact: Swift does not say how big a
/// heap object is.
enum MemoryFootprint {
    /// One key in one of the shard's maps: the dictionary slot (key and value inline, at the
    /// hash table's load factor), its expiry-queue entry, and malloc's rounding of the values.
    static let entry = 256
    /// One stored event besides its JSON: the `StoredEvent` and timestamp deque slots and the
    /// JSON array's header and allocation.
    static let event = 96
    /// One queued item, chain id or command besides its bytes.
    static let item = 48
    /// A session id's place in the eviction order (`RecencyList` slot and map entry).
    static let recencyEntry = 128

    /// A string's heap bytes: none up to 15 UTF-8 bytes (stored inline), else the bytes and a header.
    static func string(_ text: String) -> Int {
        let count = text.utf8.count
        return count <= 15 ? 0 : count + 32
    }

    static func string(_ text: String?) -> Int { text.map { string($0) } ?? 0 }

    static func key(_ key: String) -> Int { entry + string(key) }

    static func recency(_ sessionId: String) -> Int { recencyEntry + string(sessionId) }

    static func event(_ event: StoredEvent) -> Int { Self.event + event.json.count }

    /// The most appending `events` can add: each event with its `"seq":N,` prefix, its
    /// idempotency key, and for each session a stream entry and a place in the eviction order
    /// (counted even when the session exists: an over-estimate makes room early, never late).
    static func appending(_ events: [NewEvent]) -> Int {
        var total = 0
        var sessions = Set<String>()
        for event in events {
            total += Self.event + event.body.count + 24
            if let key = event.idempotencyKey {
                total += entry + event.sessionId.utf8.count + key.utf8.count + 33 + string(event.sessionId) + string(event.eventId)
            }
            if events.count == 1 || sessions.insert(event.sessionId).inserted {
                total += Self.key(event.sessionId) + recency(event.sessionId)
            }
        }
        return total
    }

    static func session(_ session: Session) -> Int {
        string(session.id) + string(session.cwd) + string(session.hostname) + string(session.platform) + string(session.user)
            + string(session.status) + string(session.startedAt) + string(session.endedAt) + string(session.summary)
            + string(session.endReason) + string(session.updatedAt)
    }

    static func chain(_ chain: StoredChain) -> Int {
        item + string(chain.id) + string(chain.sessionId) + chain.json.count
    }

    static func chainIds(_ ids: [String]) -> Int {
        ids.reduce(0) { $0 + item + string($1) }
    }

    static func appended(_ appended: AppendedEvent) -> Int {
        string(appended.sessionId) + string(appended.eventId)
    }
}
