import Logging
import SBCore

/// MEMORY_STORE_MAX_BYTES: before a write that would take the store past its budget, the least
/// recently written sessions that have no local subscriber are evicted whole (like DELETE, and
/// their subscribers, should one arrive meanwhile, are told the same way), or, with eviction
/// off, the write is refused with `.outOfMemory` (507) and nothing changes.
///
/// The order is least recently written first across all shards: each shard keeps its sessions
/// in write order (`RecencyList`), and an eviction takes the oldest of the shards' oldest. An
/// idempotency key older than every evictable session goes first (they are not indexed by
/// session). The check and the write are separate steps, so writes racing on several loops may
/// overshoot the budget by what they carry.
extension MemoryStore {
    /// Evictable candidates passed over per shard per look (watched sessions move to the back).
    static let evictionLookLimit = 64
    /// Evictions one write may cause before it is refused instead.
    static let maxEvictionsPerWrite = 100_000

    private enum Eviction {
        case session(id: String, freed: Int)
        case idempotencyKey(freed: Int)
        /// The candidate was written or subscribed to after it was picked: pick again.
        case raced
    }

    /// Makes room for `incoming` more bytes; nil when they fit, else why the write is refused.
    func makeRoom(for incoming: Int, sparing spared: @autoclosure () -> Set<String>) -> StoreError? {
        guard countedBytes + incoming > budget.maxBytes else { return nil }
        guard incoming <= budget.maxBytes else { return refuse(because: "this write alone counts \(incoming) bytes") }
        guard budget.evicts else { return refuse(because: "MEMORY_STORE_EVICTION=off") }
        let spared = spared()
        let bus = listener.withLock { $0 }
        let isWatched: (String) -> Bool = { bus?.hasLocalSubscriber($0) ?? false }
        var sessions: [String] = []
        var keys = 0
        var freed = 0
        defer { reportEvictions(sessions: sessions, idempotencyKeys: keys, freed: freed, bus: bus) }
        for _ in 0..<Self.maxEvictionsPerWrite {
            switch evictOldest(sparing: spared, isWatched: isWatched) {
            case .session(let id, let bytes)?:
                sessions.append(id)
                freed += bytes
            case .idempotencyKey(let bytes)?:
                keys += 1
                freed += bytes
            case .raced?:
                continue
            case nil:
                return refuse(because: "every session left has a live subscriber or is being written")
            }
            if countedBytes + incoming <= budget.maxBytes { return nil }
        }
        return refuse(because: "\(Self.maxEvictionsPerWrite) evictions did not make room")
    }

    private func evictOldest(sparing spared: Set<String>, isWatched: (String) -> Bool) -> Eviction? {
        let now = clock()
        let idempotencyTTL = Int64(settings.idempotencyTTLSeconds) * 1000
        var best: (shard: Int, what: MemoryShard.Evictable, writtenAt: Int64)?
        for index in shards.indices {
            let found = withShard(index) {
                $0.oldestEvictable(sparing: spared, isWatched: isWatched, idempotencyTTL: idempotencyTTL, now: now,
                                   lookLimit: Self.evictionLookLimit)
            }
            if let found, best.map({ found.writtenAt < $0.writtenAt }) ?? true { best = (index, found.what, found.writtenAt) }
        }
        guard let best else { return nil }
        switch best.what {
        case .idempotencyKey(let key):
            let freed = withShard(best.shard) { shard -> Int in
                let before = shard.bytes
                shard.evictIdempotencyKey(key)
                return before - shard.bytes
            }
            return .idempotencyKey(freed: freed)
        case .session(let id):
            let evicted = withShard(best.shard) { shard -> (chainIds: [String], freed: Int, reset: BusMessage?)? in
                guard shard.recency.oldest?.key == id, !isWatched(id) else { return nil }
                let before = shard.bytes
                let chainIds = shard.evictSession(id)
                // As after DELETE: whoever follows the session hears that its stream starts again.
                return (chainIds, before - shard.bytes, shard.post(.reset(sessionId: id, epoch: StreamEpoch.next())))
            }
            guard let evicted else { return .raced }
            publish(evicted.reset, shard: best.shard)
            var freed = evicted.freed
            for chainId in evicted.chainIds {
                freed += withShard(shard(chainId)) { shard -> Int in
                    let before = shard.bytes
                    shard.setChain(chainId, nil)
                    return before - shard.bytes
                }
            }
            return .session(id: id, freed: freed)
        }
    }

    private func refuse(because reason: String) -> StoreError {
        let message = "the memory store is full (MEMORY_STORE_MAX_BYTES=\(budget.maxBytes), \(countedBytes) counted; \(reason)): nothing was stored"
        if let logger, let suppressed = warnings.withLock({ $0.admit(.memoryStoreFull, now: MonotonicClock.now()) }) {
            logger.warning("write refused: \(message)\(suppressed > 0 ? " (\(suppressed) more refused since the last line)" : "")")
        }
        return .outOfMemory(message)
    }

    private func reportEvictions(sessions: [String], idempotencyKeys: Int, freed: Int, bus: (any BusListener)?) {
        guard !sessions.isEmpty || idempotencyKeys > 0 else { return }
        bus?.memoryStoreEvicted(sessions: sessions.count, idempotencyKeys: idempotencyKeys)
        guard let logger, let suppressed = warnings.withLock({ $0.admit(.memoryStoreEvicted, now: MonotonicClock.now()) }) else { return }
        let named = sessions.prefix(3).joined(separator: ", ") + (sessions.count > 3 ? ", …" : "")
        logger.notice("memory store at MEMORY_STORE_MAX_BYTES=\(budget.maxBytes): evicted \(sessions.count) least recently written session(s) without a subscriber (\(named)) and \(idempotencyKeys) idempotency key(s), \(freed) bytes\(suppressed > 0 ? "; \(suppressed) more writes evicted since the last line" : "")")
    }
}
