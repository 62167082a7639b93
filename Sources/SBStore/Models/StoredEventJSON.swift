import SBCore

/// The one owner of the stored-event bytes: `{"seq":N,` + the posted object (with its
/// `eventId`) minus its opening brace. Swift writes it here for the memory store; the Redis
/// append script writes it with `luaExpression`, built here too, and a test runs both on the
/// same input and compares the bytes.
public enum StoredEventJSON {
    /// `{"seq":N,` + body without its opening brace. `body` is a JSON object that is never
    /// empty (it always carries eventId, sessionId, type and timestamp).
    public static func make(seq: Int64, body: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(body.count + 24)
        out.append(literal: "{\"seq\":")
        JSONNumber.append(seq, to: &out)  // digits written in place: no String per event
        out.append(UInt8(ascii: ","))
        out.append(contentsOf: body.dropFirst())
        return out
    }

    /// What a script is given of a body: all but its opening brace, which `make` replaces, so
    /// the script does not copy every event once more to drop it.
    public static func scriptArgument(body: [UInt8]) -> ArraySlice<UInt8> { body.dropFirst() }

    /// The same bytes as `make`, as a Lua expression over the script variables `seq` (an
    /// integer or its text) and `bodyTail` (`scriptArgument`'s bytes).
    public static func luaExpression(seq: String, bodyTail: String) -> String {
        "'{\"seq\":' .. \(seq) .. ',' .. \(bodyTail)"
    }
}

/// Applies an `EventQuery`'s limit to matching events already in seq order.
public enum EventQueryWindow {
    public static func apply(_ query: EventQuery, to events: [StoredEvent]) -> [StoredEvent] {
        let limit = max(query.limit, 0)
        guard events.count > limit else { return events }
        return query.newest ? Array(events.suffix(limit)) : Array(events.prefix(limit))
    }
}

/// Commands carry their id as the first field (`{"id":"…",…}`), written by the hub.
public enum CommandID {
    public static func extract(from json: [UInt8]) -> String? {
        let prefix = Array("{\"id\":\"".utf8)
        guard json.count > prefix.count, json.starts(with: prefix) else { return nil }
        guard let end = json[prefix.count...].firstIndex(of: UInt8(ascii: "\"")) else { return nil }
        return String(decoding: json[prefix.count..<end], as: UTF8.self)
    }
}

extension Session {
    public mutating func apply(_ update: SessionUpdate) {
        if let status = update.status { self.status = status }
        if let summary = update.summary { self.summary = summary }
        if let endReason = update.endReason { self.endReason = endReason }
        if let endedAt = update.endedAt { self.endedAt = endedAt }
        updatedAt = update.updatedAt
    }
}

extension StoredEventJSON {
    /// The seq of a stored event, read from its `{"seq":N,` prefix.
    public static func seq(of json: [UInt8]) -> Int64? {
        let prefix = Array("{\"seq\":".utf8)
        guard json.count > prefix.count, json.starts(with: prefix) else { return nil }
        var value: Int64 = 0
        var i = prefix.count
        while i < json.count, json[i] >= 0x30, json[i] <= 0x39 {
            value = value * 10 + Int64(json[i] - 0x30)
            i += 1
        }
        return i > prefix.count ? value : nil
    }

    /// The event's own `timestamp` field in milliseconds (parsed only for `since` queries).
    public static func timestampMillis(of json: [UInt8]) -> Int64? {
        TopLevelJSON.string("timestamp", in: json).flatMap(ISO8601.parse)
    }
}
