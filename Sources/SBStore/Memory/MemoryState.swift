import DequeModule

/// The data behind `MemoryStore`, guarded by its lock. Deadlines are monotonic milliseconds.
struct MemoryState {
    struct EventLog {
        var lastSeq: Int64 = 0
        var events = Deque<StoredEvent>()
        /// Event timestamps (ms) parallel to `events`, for `since` and `/recent` queries.
        var timestamps = Deque<Int64>()
        var expiresAt: Int64 = 0
    }

    struct Queue {
        var items: [QueuedItem] = []
        var expiresAt: Int64 = 0
    }

    struct Expiring<Value> {
        var value: Value
        var expiresAt: Int64
    }

    var sessions: [String: Expiring<Session>] = [:]
    var logs: [String: EventLog] = [:]
    var chainIds: [String: Expiring<[String]>] = [:]
    var chains: [String: Expiring<StoredChain>] = [:]
    var commandQueues: [String: Queue] = [:]
    var inputQueues: [String: Queue] = [:]
    var commands: [String: Expiring<[UInt8]>] = [:]

    /// Drops everything whose deadline has passed, so memory stays bounded without traffic.
    mutating func sweep(now: Int64) {
        sessions = sessions.filter { $0.value.expiresAt > now }
        logs = logs.filter { $0.value.expiresAt > now }
        chainIds = chainIds.filter { $0.value.expiresAt > now }
        chains = chains.filter { $0.value.expiresAt > now }
        commandQueues = commandQueues.filter { $0.value.expiresAt > now }
        inputQueues = inputQueues.filter { $0.value.expiresAt > now }
        commands = commands.filter { $0.value.expiresAt > now }
    }

    func liveSession(_ id: String, now: Int64) -> Session? {
        guard let entry = sessions[id], entry.expiresAt > now else { return nil }
        return entry.value
    }

    func liveChainIds(_ sessionId: String, now: Int64) -> [String] {
        guard let entry = chainIds[sessionId], entry.expiresAt > now else { return [] }
        return entry.value
    }
}
