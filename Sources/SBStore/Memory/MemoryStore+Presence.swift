import SBCore

/// Presence on one instance: entries live and die with the process, so there are no leases to
/// renew and nothing to sweep; joins and leaves are published as they happen.
extension MemoryStore {
    public var presenceUsesLeases: Bool { false }

    public func presenceJoin(sessionId: String, entry: PresenceEntry, _ done: @escaping (Result<Void, StoreError>) -> Void) {
        let joined = presenceTable.withLock { table in
            table[sessionId, default: [:]].updateValue(entry, forKey: entry.clientId) == nil
        }
        if joined { publishPresence(sessionId: sessionId, joins: [entry], leaves: []) }
        done(.success(()))
    }

    public func presenceLeave(sessionId: String, clientId: String, _ done: @escaping (Result<Void, StoreError>) -> Void) {
        let left = presenceTable.withLock { table -> PresenceEntry? in
            guard var clients = table[sessionId], let entry = clients.removeValue(forKey: clientId) else { return nil }
            table[sessionId] = clients.isEmpty ? nil : clients
            return entry
        }
        if let left { publishPresence(sessionId: sessionId, joins: [], leaves: [left]) }
        done(.success(()))
    }

    public func presenceRenew(sessionId: String, clientIds: [String], _ done: @escaping (Result<[String], StoreError>) -> Void) {
        let missing = presenceTable.withLock { table in
            clientIds.filter { table[sessionId]?[$0] == nil }
        }
        done(.success(missing))
    }

    public func presence(sessionId: String, limit: Int, _ done: @escaping (Result<PresenceList, StoreError>) -> Void) {
        let list = presenceTable.withLock { table -> PresenceList in
            let clients = table[sessionId] ?? [:]
            let oldest = clients.values.sorted { ($0.sinceMillis, $0.clientId) < ($1.sinceMillis, $1.clientId) }
            return PresenceList(count: clients.count, entries: Array(oldest.prefix(max(limit, 0))))
        }
        done(.success(list))
    }

    /// Outside the table's lock: the listener builds frames and hops to loops.
    private func publishPresence(sessionId: String, joins: [PresenceEntry], leaves: [PresenceEntry]) {
        listener.withLock { $0 }?.receive(.presence(sessionId: sessionId, joins: joins, leaves: leaves))
    }
}
