public import SBEventLoop

/// Client-side sharding over several Redis (REDIS_URL with a comma list, or several Sentinel
/// masters): one `RedisStore` per shard on this loop, and every session on the shard its id
/// hashes to (`ShardRouter`, jump hash). A session's keys, queues, chains and command records
/// all live on its shard, so each per-session script stays one atomic step on one Redis.
///
/// What is not keyed by session:
/// * an ack (`/api/commands/:id/ack`) and a chain read (`/api/chains/:id`) know only an id, so
///   they are asked of every shard at once and the shard that holds the record answers. We
///   look the id up rather than embed the session id in it: ids keep their format, a command
///   moved by `switchboard reshard` is still found, and an ack is rare next to events. An id
///   no reachable shard knows, while a shard is down, is 503 (it may be there), not 404;
/// * the session listing merges every shard; with a shard down it is 503 (it would be
///   incomplete);
/// * an event batch spanning shards runs one append per shard: atomic per shard, not across
///   them. If one shard fails the whole POST is 503 while the others' events are stored;
///   a retry with the same `eventId`s (or Idempotency-Key) stores nothing twice.
///
/// A shard that is down makes only its own sessions answer 503. Confinement: `loop`.
public final class ShardedRedisStore: Store, LeasedPresence, @unchecked Sendable {
    public let kind = StorageKind.redis
    public let shards: [RedisStore]
    let router: ShardRouter

    public init(shards: [RedisStore]) {
        precondition(!shards.isEmpty)
        self.shards = shards
        router = ShardRouter(count: shards.count)
    }

    public var loop: EventLoop { shards[0].loop }

    /// Some shard is reachable (any thread): a down shard fails only its own sessions.
    public var isAvailable: Bool { shards.contains { $0.isAvailable } }

    func shard(_ sessionId: String) -> RedisStore { shards[router.shard(of: sessionId)] }

    // MARK: Routed by session

    public func appendEvents(_ events: [NewEvent], _ done: @escaping (Result<[AppendedEvent], StoreError>) -> Void) {
        var groups: [Int: [Int]] = [:]
        for (index, event) in events.enumerated() { groups[router.shard(of: event.sessionId), default: []].append(index) }
        if groups.count <= 1 {
            return shards[groups.keys.first ?? 0].appendEvents(events, done)
        }
        var results = [AppendedEvent?](repeating: nil, count: events.count)
        var remaining = groups.count
        var failure: StoreError?
        for (shardIndex, indices) in groups.sorted(by: { $0.key < $1.key }) {
            shards[shardIndex].appendEvents(indices.map { events[$0] }) { result in
                switch result {
                case .failure(let error): failure = failure ?? error
                case .success(let appended): for (index, item) in zip(indices, appended) { results[index] = item }
                }
                remaining -= 1
                guard remaining == 0 else { return }
                if let failure { return done(.failure(failure)) }
                done(.success(results.compactMap { $0 }))
            }
        }
    }

    public func readStream(sessionId: String, after: Int64, limit: PageLimit, _ done: @escaping (Result<StreamPage, StoreError>) -> Void) {
        shard(sessionId).readStream(sessionId: sessionId, after: after, limit: limit, done)
    }

    public func events(sessionId: String, query: EventQuery, _ done: @escaping (Result<[StoredEvent], StoreError>) -> Void) {
        shard(sessionId).events(sessionId: sessionId, query: query, done)
    }

    public func createSession(_ session: Session, _ done: @escaping (Result<Void, StoreError>) -> Void) {
        shard(session.id).createSession(session, done)
    }

    public func session(id: String, _ done: @escaping (Result<Session?, StoreError>) -> Void) {
        shard(id).session(id: id, done)
    }

    public func updateSession(id: String, _ update: SessionUpdate, _ done: @escaping (Result<Session?, StoreError>) -> Void) {
        shard(id).updateSession(id: id, update, done)
    }

    public func deleteSession(id: String, _ done: @escaping (Result<Bool, StoreError>) -> Void) {
        shard(id).deleteSession(id: id, done)
    }

    public func addChain(_ chain: StoredChain, _ done: @escaping (Result<Void, StoreError>) -> Void) {
        shard(chain.sessionId).addChain(chain, done)
    }

    public func chains(sessionId: String, _ done: @escaping (Result<[StoredChain], StoreError>) -> Void) {
        shard(sessionId).chains(sessionId: sessionId, done)
    }

    public func enqueue(_ kind: QueueKind, sessionId: String, item: QueuedItem,
                        _ done: @escaping (Result<Void, StoreError>) -> Void) {
        shard(sessionId).enqueue(kind, sessionId: sessionId, item: item, done)
    }

    public func drain(_ kind: QueueKind, sessionId: String, _ done: @escaping (Result<[QueuedItem], StoreError>) -> Void) {
        shard(sessionId).drain(kind, sessionId: sessionId, done)
    }

    /// A session's presence lives on its shard, beside its events.
    public var leasedPresence: (any LeasedPresence)? { self }

    public func presenceJoin(sessionId: String, entry: PresenceEntry, _ done: @escaping (Result<Void, StoreError>) -> Void) {
        shard(sessionId).presenceJoin(sessionId: sessionId, entry: entry, done)
    }

    public func presenceLeave(sessionId: String, clientId: String, _ done: @escaping (Result<Void, StoreError>) -> Void) {
        shard(sessionId).presenceLeave(sessionId: sessionId, clientId: clientId, done)
    }

    public func presenceRenew(sessionId: String, clientIds: [String], _ done: @escaping (Result<[String], StoreError>) -> Void) {
        shard(sessionId).presenceRenew(sessionId: sessionId, clientIds: clientIds, done)
    }

    public func presence(sessionId: String, limit: Int, _ done: @escaping (Result<PresenceList, StoreError>) -> Void) {
        shard(sessionId).presence(sessionId: sessionId, limit: limit, done)
    }

    /// The instance registry lives on the first shard (one list for the console; a heartbeat
    /// missed while that shard is down only hides the instance for a few seconds).
    public func announceInstance(id: String, json: [UInt8], ttlSeconds: Int, _ done: @escaping (Result<[[UInt8]], StoreError>) -> Void) {
        shards[0].announceInstance(id: id, json: json, ttlSeconds: ttlSeconds, done)
    }

    // MARK: Asked of every shard

    public func listSessions(_ done: @escaping (Result<[SessionSummary], StoreError>) -> Void) {
        fanOut({ $0.listSessions($1) }) { results in
            var merged: [SessionSummary] = []
            for result in results {
                switch result {
                case .failure(let error): return done(.failure(error))
                case .success(let list): merged.append(contentsOf: list)
                }
            }
            done(.success(merged.sorted { ($0.session.startedAt, $0.session.id) < ($1.session.startedAt, $1.session.id) }))
        }
    }

    public func chain(id: String, _ done: @escaping (Result<StoredChain?, StoreError>) -> Void) {
        fanOut({ $0.chain(id: id, $1) }) { results in
            done(Self.found(results) { $0 != nil }.map { $0 ?? nil })
        }
    }

    public func acknowledgeCommand(id: String, ack: [UInt8], _ done: @escaping (Result<Bool, StoreError>) -> Void) {
        fanOut({ $0.acknowledgeCommand(id: id, ack: ack, $1) }) { results in
            done(Self.found(results) { $0 }.map { $0 ?? false })
        }
    }

    /// The shard that found it answers; else, if any shard could not be asked, the record may be
    /// there: unavailable; else nobody has it (nil).
    static func found<T>(_ results: [Result<T, StoreError>], _ isHit: (T) -> Bool) -> Result<T?, StoreError> {
        var failure: StoreError?
        for result in results {
            switch result {
            case .success(let value) where isHit(value): return .success(value)
            case .success: break
            case .failure(let error): failure = failure ?? error
            }
        }
        return failure.map { .failure($0) } ?? .success(nil)
    }

    /// Runs `call` on every shard concurrently; `done` gets the results in shard order.
    func fanOut<T>(_ call: (RedisStore, @escaping (Result<T, StoreError>) -> Void) -> Void,
                   _ done: @escaping ([Result<T, StoreError>]) -> Void) {
        var results = [Result<T, StoreError>?](repeating: nil, count: shards.count)
        var remaining = shards.count
        for (index, shard) in shards.enumerated() {
            call(shard) { result in
                results[index] = result
                remaining -= 1
                if remaining == 0 { done(results.map { $0! }) }
            }
        }
    }
}
