/// What the stores keep. Event and chain bodies stay the JSON bytes the client posted (plus the
/// fields the server assigns), so key order and number formatting survive a round trip.

/// An event ready to be appended: `body` is the posted object with `eventId` already spliced in
/// after its opening brace (`{"eventId":"…",…}`). The store prepends `"seq":N,` when it assigns
/// the sequence number, in the same atomic step that stores and publishes it.
public struct NewEvent: Sendable {
    public var sessionId: String
    public var eventId: String
    public var timestampMillis: Int64
    public var body: [UInt8]
    /// Set when the publisher made the request repeatable (an `Idempotency-Key` header or its
    /// own `eventId`): a second append with the same key for the same session within
    /// IDEMPOTENCY_TTL stores nothing and reports the first append's seq and eventId.
    public var idempotencyKey: String?

    public init(sessionId: String, eventId: String, timestampMillis: Int64, body: [UInt8], idempotencyKey: String? = nil) {
        self.sessionId = sessionId
        self.eventId = eventId
        self.timestampMillis = timestampMillis
        self.body = body
        self.idempotencyKey = idempotencyKey
    }
}

/// A stored event: `json` is `{"seq":N,"eventId":"…",…as posted…}`.
public struct StoredEvent: Sendable, Equatable {
    public var seq: Int64
    public var json: [UInt8]

    public init(seq: Int64, json: [UInt8]) {
        self.seq = seq
        self.json = json
    }
}

public struct AppendedEvent: Sendable, Equatable {
    public var sessionId: String
    public var eventId: String
    public var seq: Int64
    /// True when this was a repeat of an idempotency key: nothing was stored or published, and
    /// `seq`/`eventId` are the original append's.
    public var duplicate: Bool

    public init(sessionId: String, eventId: String, seq: Int64, duplicate: Bool = false) {
        self.sessionId = sessionId
        self.eventId = eventId
        self.seq = seq
        self.duplicate = duplicate
    }
}

/// One read of a session's stream: where it stands and a page of its events, taken in one
/// atomic step so a subscriber's position, epoch and replay agree with each other.
public struct StreamPage: Sendable, Equatable {
    /// Changes whenever the session's seq counter starts again (DELETE, expiry, data loss).
    public var epoch: String
    /// Newest stored seq (0 when nothing was ever stored in this epoch).
    public var lastSeq: Int64
    /// Oldest seq still kept; `lastSeq + 1` when none is kept.
    public var oldestSeq: Int64
    /// Events with seq > the `after` asked for, oldest first, bounded by count and bytes (at
    /// least one event when any qualifies, however large).
    public var events: [StoredEvent]

    public init(epoch: String, lastSeq: Int64, oldestSeq: Int64, events: [StoredEvent]) {
        self.epoch = epoch
        self.lastSeq = lastSeq
        self.oldestSeq = oldestSeq
        self.events = events
    }
}

/// How much one replay page may carry.
public struct PageLimit: Sendable, Equatable {
    public var count: Int
    public var bytes: Int

    public init(count: Int, bytes: Int) {
        self.count = count
        self.bytes = bytes
    }
}

/// Which stored events a read wants. `after` and `sinceMillis` filter; `limit` keeps the oldest
/// matching events, or the newest ones when `newest` is set (`/recent`).
public struct EventQuery: Sendable, Equatable {
    public var after: Int64?
    public var sinceMillis: Int64?
    public var limit: Int
    public var newest: Bool

    public init(after: Int64? = nil, sinceMillis: Int64? = nil, limit: Int = 1000, newest: Bool = false) {
        self.after = after
        self.sinceMillis = sinceMillis
        self.limit = limit
        self.newest = newest
    }
}

public struct Session: Codable, Sendable, Equatable {
    public var id: String
    public var cwd: String
    public var hostname: String?
    public var platform: String?
    public var user: String?
    public var status: String
    public var startedAt: String
    public var endedAt: String?
    public var summary: String?
    public var endReason: String?
    public var updatedAt: String?

    public init(id: String, cwd: String, hostname: String?, platform: String?, user: String?, status: String, startedAt: String) {
        self.id = id
        self.cwd = cwd
        self.hostname = hostname
        self.platform = platform
        self.user = user
        self.status = status
        self.startedAt = startedAt
    }
}

public struct SessionUpdate: Sendable, Equatable {
    public var status: String?
    public var summary: String?
    public var endReason: String?
    /// Set by the caller when status becomes completed/failed.
    public var endedAt: String?
    public var updatedAt: String

    public init(status: String? = nil, summary: String? = nil, endReason: String? = nil, endedAt: String? = nil, updatedAt: String) {
        self.status = status
        self.summary = summary
        self.endReason = endReason
        self.endedAt = endedAt
        self.updatedAt = updatedAt
    }
}

public struct SessionSummary: Sendable, Equatable {
    public var session: Session
    public var chainsCount: Int
    /// The seq of the session's last event (0: none yet in this epoch): how many it posted.
    public var lastSeq: Int64

    public init(session: Session, chainsCount: Int, lastSeq: Int64 = 0) {
        self.session = session
        self.chainsCount = chainsCount
        self.lastSeq = lastSeq
    }
}

/// A chain: its id and the JSON object stored for it (`{"id":"…","sessionId":"…",…}`).
public struct StoredChain: Sendable, Equatable {
    public var id: String
    public var sessionId: String
    public var json: [UInt8]

    public init(id: String, sessionId: String, json: [UInt8]) {
        self.id = id
        self.sessionId = sessionId
        self.json = json
    }
}

/// A queued command or input: opaque JSON objects, drained in push order.
public struct QueuedItem: Sendable, Equatable {
    public var json: [UInt8]
    public init(json: [UInt8]) { self.json = json }
}

public enum QueueKind: String, Sendable {
    case commands
    case input
}

public enum StoreError: Error, Equatable, Sendable {
    /// Storage could not be reached or did not answer in time: HTTP 503, never 2xx.
    case unavailable(String)
    case notFound(String)
    /// A bounded queue is full (commands or input nobody drains): HTTP 429.
    case full(String)
    /// The store is over its memory limit and refused the write: Redis over `maxmemory` (an
    /// `OOM …` error reply), or the memory store at MEMORY_STORE_MAX_BYTES with eviction off.
    /// The message says which, for the client: nothing was written. HTTP 507; reads keep working.
    case outOfMemory(String)
}

public enum StorageKind: String, Sendable {
    case memory
    case redis
}
