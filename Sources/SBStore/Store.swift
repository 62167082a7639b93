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
    func appendEvents(_ events: [NewEvent], _ done: @escaping (Result<[AppendedEvent], StoreError>) -> Void)
    func events(sessionId: String, query: EventQuery, _ done: @escaping (Result<[StoredEvent], StoreError>) -> Void)

    func createSession(_ session: Session, _ done: @escaping (Result<Void, StoreError>) -> Void)
    func session(id: String, _ done: @escaping (Result<Session?, StoreError>) -> Void)
    func listSessions(_ done: @escaping (Result<[SessionSummary], StoreError>) -> Void)
    func updateSession(id: String, _ update: SessionUpdate, _ done: @escaping (Result<Session?, StoreError>) -> Void)
    /// Removes the session, its events, seq counter, chains and queues. False when absent.
    func deleteSession(id: String, _ done: @escaping (Result<Bool, StoreError>) -> Void)

    func addChain(_ chain: StoredChain, _ done: @escaping (Result<Void, StoreError>) -> Void)
    func chains(sessionId: String, _ done: @escaping (Result<[StoredChain], StoreError>) -> Void)
    func chain(id: String, _ done: @escaping (Result<StoredChain?, StoreError>) -> Void)

    /// Queues an item and publishes `push` (a ready WebSocket message) to the session's subscribers.
    func enqueue(_ kind: QueueKind, sessionId: String, item: QueuedItem, push: [UInt8], _ done: @escaping (Result<Void, StoreError>) -> Void)
    /// Takes every queued item atomically: two racing drains never both get, or both miss, one.
    func drain(_ kind: QueueKind, sessionId: String, _ done: @escaping (Result<[QueuedItem], StoreError>) -> Void)
    /// Records an acknowledgement for a command id seen by `enqueue(.commands…)`; false if unknown.
    func acknowledgeCommand(id: String, ack: [UInt8], _ done: @escaping (Result<Bool, StoreError>) -> Void)
}

/// What a store publishes, and what the hub fans out to local subscribers.
public enum BusMessage: Sendable {
    /// A stored event; `json` is the stored event object. `seq` nil only for messages from an
    /// old-backend instance that did not assign one.
    case event(sessionId: String, seq: Int64?, json: [UInt8])
    /// A ready-made WebSocket message (command or input push) for a session's subscribers.
    case push(sessionId: String, message: [UInt8])
}

/// The receiving end of the bus. Called from any thread, in publish order per session.
public protocol BusListener: AnyObject, Sendable {
    func receive(_ message: BusMessage)
    /// The bus lost messages it cannot replay itself (Redis subscription was re-established):
    /// the hub refills every locally subscribed session from history.
    func busResynchronized()
}

/// Limits and lifetimes shared by both stores.
public struct StoreSettings: Sendable {
    public var sessionTTLSeconds: Int
    public var queueTTLSeconds: Int
    public var historyLimit: Int

    public init(sessionTTLSeconds: Int = 86400, queueTTLSeconds: Int = 300, historyLimit: Int = 10000) {
        self.sessionTTLSeconds = sessionTTLSeconds
        self.queueTTLSeconds = queueTTLSeconds
        self.historyLimit = historyLimit
    }
}
