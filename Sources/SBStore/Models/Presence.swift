import SBCore

/// One client present in a session (issue 26): a WebSocket subscribed to it, or a Server-Sent
/// Events stream of it, on some instance.
///
/// The owner of the entry's bytes: `json` writes them and `init?(json:)` reads them, wherever
/// they travel (the Redis presence hash, the channel's presence messages, which Lua copies
/// without looking inside, and the messages clients get).
/// `{"clientId":"…","instanceId":"…","since":"<ISO-8601>","info":{…}}`
public struct PresenceEntry: Sendable, Equatable {
    /// The connection's id (a WebSocket's `clientId`, or a stream's): one per connection.
    public var clientId: String
    public var instanceId: String
    /// When it joined (Unix milliseconds).
    public var sinceMillis: Int64
    /// A JSON object: `{"sub":…,"info":{…}}` from a token, `{}` for an API-key client.
    public var info: [UInt8]

    public init(clientId: String, instanceId: String, sinceMillis: Int64, info: [UInt8] = Self.noInfo) {
        self.clientId = clientId
        self.instanceId = instanceId
        self.sinceMillis = sinceMillis
        self.info = info
    }

    public static let noInfo: [UInt8] = Array("{}".utf8)

    public var json: [UInt8] {
        JSONObjectWriter.make(capacity: 112 + info.count) { entry in
            entry.string("clientId", clientId)
            entry.string("instanceId", instanceId)
            entry.string("since", ISO8601.format(milliseconds: sinceMillis))
            entry.json("info", info)
        }
    }

    private static let keys = JSONKeyTable(["clientId", "instanceId", "since", "info"])

    /// nil for anything `json` would not have written (a client id, an instance id, a time and
    /// an object are required).
    public init?(json: [UInt8]) {
        guard case .success(let document) = JSONScanner.scan(json, keys: Self.keys, maxElements: 0),
              document.root.kind == .object,
              let clientId = document.string(document.member(0, of: document.root)),
              let instanceId = document.string(document.member(1, of: document.root)),
              let since = document.string(document.member(2, of: document.root)).flatMap(ISO8601.parse) else { return nil }
        let info = document.member(3, of: document.root)
        guard info.kind == .object else { return nil }
        self.init(clientId: clientId, instanceId: instanceId, sinceMillis: since, info: Array(json[info.range]))
    }
}

/// A session's presence as read: `count` is exact, `entries` at most the limit asked for.
public struct PresenceList: Sendable, Equatable {
    public var count: Int
    /// Oldest first (then by client id).
    public var entries: [PresenceEntry]

    public init(count: Int, entries: [PresenceEntry]) {
        self.count = count
        self.entries = entries.sorted { ($0.sinceMillis, $0.clientId) < ($1.sinceMillis, $1.clientId) }
    }

    /// The most clients one answer lists (REST and the WebSocket `presence` message);
    /// `count` still counts them all.
    public static let maxListed = 1000
}
