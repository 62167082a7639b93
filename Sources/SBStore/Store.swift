public import SBEventLoop

/// Everything the hub stores, behind one contract that `MemoryStore` and `RedisStore` both
/// keep (and that one test suite checks for both).
///
/// Calls are made on an event-loop thread; every completion runs exactly once, on that same
/// thread (synchronously for memory, after the reply for Redis). Nothing is reported stored
/// that was not.
public protocol Store: AnyObject {
    var kind: StorageKind { get }
    /// False while the backing store is unreachable (Redis down): writes and reads answer 503.
    var isAvailable: Bool { get }

    /// Assigns each event the next `seq` of its session, stores it (trimming history to the
    /// limit) and publishes it to the bus, atomically per event, in array order.
    /// An event with an `idempotencyKey` already used for its session within IDEMPOTENCY_TTL is
    /// neither stored nor published: it comes back `duplicate` with the original seq and eventId.
    func appendEvents(_ events: [NewEvent], _ done: @escaping (Result<[AppendedEvent], StoreError>) -> Void)
    /// The stream's epoch, last and oldest seq, and the events after `after` up to `limit`, in
    /// one atomic read (a stream nobody wrote to yet gets its epoch here).
    func readStream(sessionId: String, after: Int64, limit: PageLimit, _ done: @escaping (Result<StreamPage, StoreError>) -> Void)
    func events(sessionId: String, query: EventQuery, _ done: @escaping (Result<[StoredEvent], StoreError>) -> Void)

    func createSession(_ session: Session, _ done: @escaping (Result<Void, StoreError>) -> Void)
    func session(id: String, _ done: @escaping (Result<Session?, StoreError>) -> Void)
    func listSessions(_ done: @escaping (Result<[SessionSummary], StoreError>) -> Void)
    func updateSession(id: String, _ update: SessionUpdate, _ done: @escaping (Result<Session?, StoreError>) -> Void)
    /// Removes the session, its events, seq counter, chains and queues, and starts its stream
    /// again under a new epoch, published as `.reset` so subscribers hear of it. False when
    /// the session record was absent (the stream is reset either way).
    func deleteSession(id: String, _ done: @escaping (Result<Bool, StoreError>) -> Void)

    func addChain(_ chain: StoredChain, _ done: @escaping (Result<Void, StoreError>) -> Void)
    func chains(sessionId: String, _ done: @escaping (Result<[StoredChain], StoreError>) -> Void)
    func chain(id: String, _ done: @escaping (Result<StoredChain?, StoreError>) -> Void)

    /// Queues an item and publishes `push` (a ready WebSocket message) to the session's
    /// subscribers. `.full` when the queue already holds `maxQueueLength` items.
    func enqueue(_ kind: QueueKind, sessionId: String, item: QueuedItem, _ done: @escaping (Result<Void, StoreError>) -> Void)
    /// Takes every queued item atomically: two racing drains never both get, or both miss, one.
    func drain(_ kind: QueueKind, sessionId: String, _ done: @escaping (Result<[QueuedItem], StoreError>) -> Void)
    /// Records an acknowledgement for a command id seen by `enqueue(.commands…)`; false if unknown.
    func acknowledgeCommand(id: String, ack: [UInt8], _ done: @escaping (Result<Bool, StoreError>) -> Void)

    /// This instance's heartbeat (a small JSON object) kept for `ttlSeconds`; answers the
    /// latest heartbeat of every live instance (at most `InstanceRegistry.maxListed`), this
    /// one included. Memory: only this one.
    func announceInstance(id: String, json: [UInt8], ttlSeconds: Int, _ done: @escaping (Result<[[UInt8]], StoreError>) -> Void)

    var memoryBudgetUsage: (countedBytes: Int, maxBytes: Int)? { get }

    // MARK: Presence (issue 26; REDIS_INTEGRATION.md, Presence)

    /// Where presence lives across instances: Redis under leases. nil for the memory store (one
    /// instance): the hub answers from its own subscriptions and keeps no second copy.
    var leasedPresence: (any LeasedPresence)? { get }
}

/// Presence kept in the store under leases that each instance renews (Redis), so a dead
/// instance's clients leave by themselves.
public protocol LeasedPresence: AnyObject, Sendable {
    /// The client is present in the session from now; `.presence` with its join is published
    /// when it was not already.
    func presenceJoin(sessionId: String, entry: PresenceEntry, _ done: @escaping (Result<Void, StoreError>) -> Void)
    /// The client left; its `.presence` leave is published by whichever call removed it (this
    /// one, or an earlier sweep of its expired lease): exactly one leave per join.
    func presenceLeave(sessionId: String, clientId: String, _ done: @escaping (Result<Void, StoreError>) -> Void)
    /// Renews the leases of this instance's clients in the session and sweeps every expired
    /// entry of it (a dead instance's clients), publishing their leaves. Answers the ids that
    /// were no longer there (swept while this instance could not renew): the caller joins
    /// them again. Called every `StoreSettings.presenceRenewMillis`.
    func presenceRenew(sessionId: String, clientIds: [String], _ done: @escaping (Result<[String], StoreError>) -> Void)
    /// The clients present now (no expired lease among them): the exact count and at most
    /// `limit` entries.
    func presence(sessionId: String, limit: Int, _ done: @escaping (Result<PresenceList, StoreError>) -> Void)
}

extension Store {
    public var leasedPresence: (any LeasedPresence)? { nil }

    /// The memory store's count against MEMORY_STORE_MAX_BYTES (`countedBytes`, `maxBytes`);
    /// nil for Redis, whose own `maxmemory` applies.
    public var memoryBudgetUsage: (countedBytes: Int, maxBytes: Int)? { nil }
}

public enum InstanceRegistry {
    public static let maxListed = 100
}

/// What a store publishes, and what the hub fans out to local subscribers.
public enum BusMessage: Sendable {
    /// A stored event; `json` is the stored event object. `seq` nil only for messages from an
    /// old-backend instance that did not assign one. `acceptedAtMillis`: when the accepting
    /// instance stored it, on that instance's wall clock (the channel message's `timestamp`;
    /// nil when a message has none), for `switchboard_delivery_lag_seconds`.
    case event(sessionId: String, seq: Int64?, epoch: String?, json: [UInt8], acceptedAtMillis: Int64?)
    /// The session's stream started again under `epoch` (DELETE): subscribers are told and
    /// follow the new stream from seq 1.
    case reset(sessionId: String, epoch: String)
    /// A command or input was queued: its item, pushed to the session's subscribers.
    case push(sessionId: String, queue: QueueKind, item: [UInt8])
    /// Clients joined and left the session's presence (one join or leave, or a sweep's leaves).
    case presence(sessionId: String, joins: [PresenceEntry], leaves: [PresenceEntry])
}

/// The receiving end of the bus. Called from any thread, in publish order per session.
public protocol BusListener: AnyObject, Sendable {
    func receive(_ message: BusMessage)
    /// The bus lost messages it cannot replay itself (Redis subscription was re-established):
    /// the hub refills every locally subscribed session from history.
    func busResynchronized()
    /// The bus may have missed messages of one session (its channel was just joined).
    func busResynchronized(sessionId: String)
    /// A client of this instance follows the session now: the memory store never evicts it.
    func hasLocalSubscriber(_ sessionId: String) -> Bool
    /// The memory store evicted sessions (and forgot idempotency keys early) to stay within
    /// MEMORY_STORE_MAX_BYTES; each evicted session was also published as `.reset`.
    func memoryStoreEvicted(sessions: Int, idempotencyKeys: Int)
    /// Whether an event of the session would reach anyone here (any thread); false lets the
    /// bus drop it before parsing it, and report it with `busEventsUnwatched`.
    func watches(_ sessionId: String) -> Bool
    /// The bus dropped this many events unread: nobody here watches their session.
    func busEventsUnwatched(_ events: Int)
    /// The bus dropped a message it could not read (nothing of it was delivered).
    func busMessageMalformed()
}

extension BusListener {
    public func busResynchronized(sessionId: String) { busResynchronized() }
    public func hasLocalSubscriber(_ sessionId: String) -> Bool { false }
    public func memoryStoreEvicted(sessions: Int, idempotencyKeys: Int) {}
    public func watches(_ sessionId: String) -> Bool { true }
    public func busEventsUnwatched(_ events: Int) {}
    public func busMessageMalformed() {}
}

/// Limits and lifetimes shared by both stores.
public struct StoreSettings: Sendable {
    public var sessionTTLSeconds: Int
    public var queueTTLSeconds: Int
    public var historyLimit: Int
    /// How long an idempotency key (Idempotency-Key header or client eventId) is remembered.
    public var idempotencyTTLSeconds: Int
    /// Items a command or input queue may hold before enqueue answers `.full` (429).
    public var maxQueueLength: Int
    /// PRESENCE_TTL: an instance that stops renewing (SIGKILL, lost network) has its clients
    /// leave every presence within this many seconds.
    public var presenceTTLSeconds: Int

    public init(sessionTTLSeconds: Int = 86400, queueTTLSeconds: Int = 300, historyLimit: Int = 10000,
                idempotencyTTLSeconds: Int = 300, maxQueueLength: Int = 10000, presenceTTLSeconds: Int = 15) {
        self.sessionTTLSeconds = sessionTTLSeconds
        self.queueTTLSeconds = queueTTLSeconds
        self.historyLimit = historyLimit
        self.idempotencyTTLSeconds = idempotencyTTLSeconds
        self.maxQueueLength = maxQueueLength
        self.presenceTTLSeconds = presenceTTLSeconds
    }

    /// Leases are renewed (and expired entries swept) every third of PRESENCE_TTL, and each
    /// renewal runs for two thirds of it: a dead instance's entries expire at most 2/3 TTL after
    /// its last renewal, and the next sweep (1/3 later at most) publishes their leaves, so the
    /// leave comes within PRESENCE_TTL of the death. One missed renewal is survived.
    public var presenceRenewMillis: Int { max(presenceTTLSeconds * 1000 / 3, 1) }
    public var presenceLeaseMillis: Int { 2 * presenceRenewMillis }
    /// The presence keys' own TTL, renewed with every lease: the keys of a session whose
    /// instances all died go away by themselves.
    public var presenceKeyTTLMillis: Int { 2 * presenceTTLSeconds * 1000 }
}
