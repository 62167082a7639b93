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

    public init(sessionId: String, eventId: String, timestampMillis: Int64, body: [UInt8]) {
        self.sessionId = sessionId
        self.eventId = eventId
        self.timestampMillis = timestampMillis
        self.body = body
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

    public init(sessionId: String, eventId: String, seq: Int64) {
        self.sessionId = sessionId
        self.eventId = eventId
        self.seq = seq
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

    public init(session: Session, chainsCount: Int) {
        self.session = session
        self.chainsCount = chainsCount
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
}

public enum StorageKind: String, Sendable {
    case memory
    case redis
}
