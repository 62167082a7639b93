import Logging
import SBCore
import Foundation

/// The one owner of the messages on the `P events` channel, in both directions. Lua scripts
/// write them with the expressions built here; Swift writes them with the functions beside
/// them; `parse` reads them all, and a test checks that both writers agree byte for byte.
///
/// - event: `{"sessionId":S,"event":<stored event>,"timestamp":T,"seq":N,"epoch":E}` — the
///   original backend's `{sessionId, event, timestamp}` plus `seq` and `epoch`, so an old
///   instance and Switchboard can share one Redis.
/// - events (group commit): `{"sessionId":S,"kind":"events","count":N,"events":[<stored event>…],
///   "timestamp":T,"epoch":E}` — N ≥ 2 consecutive events of one session in seq order, from one
///   append script call; receivers split it into N events. One event is always an `event`
///   message. The old backend does not read this shape (REDIS_CHANNEL_BATCH=off keeps one
///   `event` message per event for it).
/// - push: `{"sessionId":S,"kind":"push","message":<WebSocket message>}` (commands, input).
/// - reset: `{"sessionId":S,"kind":"reset","epoch":E}` (the stream started again: DELETE).
/// - presence: `{"sessionId":S,"kind":"presence","joins":[E…],"leaves":[E…]}`, each E a
///   `PresenceEntry`'s JSON as that type wrote it (Lua copies them from the presence hash).
///
/// Session ids are validated as `[A-Za-z0-9._:-]` and epochs are hex, so neither needs escaping.
public enum RedisChannelMessage {
    /// `{"sessionId":"S`, how every message starts.
    private static func opening(_ sessionId: String) -> [UInt8] {
        var out = head
        out.append(contentsOf: sessionId.utf8)
        return out
    }

    /// The tail both event shapes end with: `,"timestamp":"T",` then (a single event) its
    /// `"seq":N,`, then `"epoch":"E"}`.
    private static func appendTail(to out: inout [UInt8], timestamp: String, seq: Int64?, epoch: String) {
        out.append(contentsOf: ",\"timestamp\":\"".utf8)
        out.append(contentsOf: timestamp.utf8)
        out.append(contentsOf: (seq.map { "\",\"seq\":\($0),\"epoch\":\"" } ?? "\",\"epoch\":\"").utf8)
        out.append(contentsOf: epoch.utf8)
        out.append(contentsOf: "\"}".utf8)
    }

    public static func event(sessionId: String, storedJSON: [UInt8], timestamp: String, seq: Int64, epoch: String) -> [UInt8] {
        var out = opening(sessionId)
        out.append(contentsOf: "\",\"event\":".utf8)
        out.append(contentsOf: storedJSON)
        appendTail(to: &out, timestamp: timestamp, seq: seq, epoch: epoch)
        return out
    }

    /// `event` as a Lua expression over script variables holding the same values.
    public static func luaEvent(sessionId: String, storedJSON: String, timestamp: String, seq: String, epoch: String) -> String {
        "'{\"sessionId\":\"' .. \(sessionId) .. '\",\"event\":' .. \(storedJSON) .. ',\"timestamp\":\"' .. \(timestamp)"
            + " .. '\",\"seq\":' .. \(seq) .. ',\"epoch\":\"' .. \(epoch) .. '\"}'"
    }

    /// `events`: `stored` holds N ≥ 2 stored events of the session, consecutive seqs in order.
    public static func events(sessionId: String, stored: [[UInt8]], timestamp: String, epoch: String) -> [UInt8] {
        var out = opening(sessionId)
        out.append(contentsOf: "\",\"kind\":\"events\",\"count\":\(stored.count),\"events\":[".utf8)
        for (index, event) in stored.enumerated() {
            if index > 0 { out.append(UInt8(ascii: ",")) }
            out.append(contentsOf: event)
        }
        out.append(UInt8(ascii: "]"))
        appendTail(to: &out, timestamp: timestamp, seq: nil, epoch: epoch)
        return out
    }

    /// `events` as a Lua expression; `stored` is a Lua table of the stored events (N ≥ 2).
    public static func luaEvents(sessionId: String, stored: String, timestamp: String, epoch: String) -> String {
        "'{\"sessionId\":\"' .. \(sessionId) .. '\",\"kind\":\"events\",\"count\":' .. #\(stored) .. ',\"events\":[' .. table.concat(\(stored), ',')"
            + " .. '],\"timestamp\":\"' .. \(timestamp) .. '\",\"epoch\":\"' .. \(epoch) .. '\"}'"
    }

    /// The channel message for a queued command or input (built here, published by the
    /// enqueue script): `{"sessionId":…,"kind":"push","message":{"type":"command"|"input",
    /// "sessionId":…,"payload":<item>}}`. `message` keeps the shape earlier versions put there
    /// (their client message), so instances of both versions read each other's pushes.
    public static func push(sessionId: String, queue: QueueKind, item: [UInt8]) -> [UInt8] {
        var out = opening(sessionId)
        out.append(contentsOf: "\",\"kind\":\"push\",\"message\":".utf8)
        out.append(contentsOf: pushHead(sessionId: sessionId, queue: queue))
        out.append(contentsOf: item)
        out.append(contentsOf: "}}".utf8)
        return out
    }

    private static func pushHead(sessionId: String, queue: QueueKind) -> [UInt8] {
        var head = Array(queue == .commands ? "{\"type\":\"command\",\"sessionId\":".utf8 : "{\"type\":\"input\",\"sessionId\":".utf8)
        JSONString.append(sessionId, to: &head)
        head.append(contentsOf: ",\"payload\":".utf8)
        return head
    }

    /// The queue and item of a push's `message` (nil: not the shape `push` writes).
    private static func parsePush(sessionId: String, message: ArraySlice<UInt8>) -> BusMessage? {
        for queue in [QueueKind.commands, .input] {
            let head = pushHead(sessionId: sessionId, queue: queue)
            if message.count > head.count, message.starts(with: head), message.last == UInt8(ascii: "}") {
                return .push(sessionId: sessionId, queue: queue, item: Array(message[(message.startIndex + head.count)..<(message.endIndex - 1)]))
            }
        }
        return nil
    }

    public static func reset(sessionId: String, epoch: String) -> [UInt8] {
        Array("{\"sessionId\":\"\(sessionId)\",\"kind\":\"reset\",\"epoch\":\"\(epoch)\"}".utf8)
    }

    /// `reset` as a Lua expression.
    public static func luaReset(sessionId: String, epoch: String) -> String {
        "'{\"sessionId\":\"' .. \(sessionId) .. '\",\"kind\":\"reset\",\"epoch\":\"' .. \(epoch) .. '\"}'"
    }

    public static func presence(sessionId: String, joins: [PresenceEntry], leaves: [PresenceEntry]) -> [UInt8] {
        var out = opening(sessionId)
        out.append(contentsOf: "\",\"kind\":\"presence\",\"joins\":[".utf8)
        for (index, entry) in joins.enumerated() {
            if index > 0 { out.append(UInt8(ascii: ",")) }
            out.append(contentsOf: entry.json)
        }
        out.append(contentsOf: "],\"leaves\":[".utf8)
        for (index, entry) in leaves.enumerated() {
            if index > 0 { out.append(UInt8(ascii: ",")) }
            out.append(contentsOf: entry.json)
        }
        out.append(contentsOf: "]}".utf8)
        return out
    }

    /// `presence` as a Lua expression; `joins` and `leaves` hold entries already joined by ','.
    public static func luaPresence(sessionId: String, joins: String, leaves: String) -> String {
        "'{\"sessionId\":\"' .. \(sessionId) .. '\",\"kind\":\"presence\",\"joins\":[' .. \(joins) .. '],\"leaves\":[' .. \(leaves) .. ']}'"
    }

    private static let presenceMark = Array(",\"kind\":\"presence\",\"joins\":[".utf8)
    private static let presenceKeys = JSONKeyTable(["joins", "leaves"])

    /// The entries of a presence message; nil when any part is not what `presence` writes.
    static func parsePresence(sessionId: String, _ payload: [UInt8]) -> BusMessage? {
        guard case .success(let document) = JSONScanner.scan(payload, keys: presenceKeys, maxElements: 0) else { return nil }
        func entries(_ key: Int) -> [PresenceEntry]? {
            let member = document.member(key, of: document.root)
            guard member.kind == .array else { return nil }
            let list = Array(payload[member.range])
            guard case .success(let array) = JSONScanner.scan(list, keys: .none, maxElements: Int.max),
                  array.elements.count == array.elementCount else { return nil }
            var out: [PresenceEntry] = []
            for element in array.elements {
                guard let entry = PresenceEntry(json: Array(list[element.range])) else { return nil }
                out.append(entry)
            }
            return out
        }
        guard let joins = entries(0), let leaves = entries(1) else { return nil }
        return .presence(sessionId: sessionId, joins: joins, leaves: leaves)
    }

    private static let head = Array("{\"sessionId\":\"".utf8)
    private static let pushMark = Array(",\"kind\":\"push\",\"message\":".utf8)
    private static let resetMark = Array(",\"kind\":\"reset\",\"epoch\":\"".utf8)
    private static let eventMark = Array(",\"event\":{\"seq\":".utf8)
    private static let timestampMark = Array(",\"timestamp\":\"".utf8)
    private static let epochMark = Array(",\"epoch\":\"".utf8)

    private static let singleEventMark = Array(",\"event\":".utf8)
    private static let eventsMark = Array(",\"kind\":\"events\",\"count\":".utf8)
    private static let eventsArrayMark = Array(",\"events\":[".utf8)
    private static let eventsEpochMark = Array("\",\"epoch\":\"".utf8)

    /// The session and the number of events of an `event` or `events` message, read no
    /// further than that (the session id and a count), so a message nobody here watches is
    /// dropped before any parsing; nil for every other message, which `split` reads whole.
    static func eventRoute(_ payload: [UInt8]) -> (sessionId: String, events: Int)? {
        guard payload.starts(with: head), let quote = payload[head.count...].firstIndex(of: UInt8(ascii: "\"")) else { return nil }
        let rest = payload[(quote + 1)...]
        if rest.starts(with: singleEventMark) {
            return (String(decoding: payload[head.count..<quote], as: UTF8.self), 1)
        }
        guard rest.starts(with: eventsMark), let count = digits(payload, from: rest.startIndex + eventsMark.count)?.value else { return nil }
        return (String(decoding: payload[head.count..<quote], as: UTF8.self), count)
    }

    /// The decimal number at `from` (at most 9 digits) and the index after it.
    private static func digits(_ payload: [UInt8], from: Int) -> (value: Int, end: Int)? {
        var value = 0
        var i = from
        while i < payload.count, i - from < 9, payload[i] >= 0x30, payload[i] <= 0x39 {
            value = value * 10 + Int(payload[i] - 0x30)
            i += 1
        }
        return i > from ? (value, i) : nil
    }

    /// Every message a payload carries, in order: an `events` message as one `.event` per
    /// event (each with its own seq), anything else as `parse` reads it. nil when the payload
    /// is malformed: then none of it is delivered.
    public static func split(_ payload: [UInt8]) -> [BusMessage]? {
        if payload.starts(with: head), let quote = payload[head.count...].firstIndex(of: UInt8(ascii: "\"")),
           payload[(quote + 1)...].starts(with: eventsMark) {
            return parseEvents(sessionId: String(decoding: payload[head.count..<quote], as: UTF8.self), payload,
                               from: quote + 1 + eventsMark.count)
        }
        return parse(payload).map { [$0] }
    }

    /// An `events` message from its count on, checked whole: the count matches the array, the
    /// events are stored events with consecutive seqs, and the tail is `timestamp` then `epoch`.
    private static func parseEvents(sessionId: String, _ payload: [UInt8], from: Int) -> [BusMessage]? {
        guard let (count, afterCount) = digits(payload, from: from), count >= 2,
              payload[afterCount...].starts(with: eventsArrayMark),
              let tail = payload.lastRange(of: timestampMark) else { return nil }
        let arrayStart = afterCount + eventsArrayMark.count - 1
        guard tail.lowerBound > arrayStart + 1, payload[tail.lowerBound - 1] == UInt8(ascii: "]"),
              let timestampEnd = payload[tail.upperBound...].firstIndex(of: UInt8(ascii: "\"")),
              payload[timestampEnd...].starts(with: eventsEpochMark), payload.count >= timestampEnd + eventsEpochMark.count + 2,
              payload.suffix(2).elementsEqual("\"}".utf8) else { return nil }
        let epoch = String(decoding: payload[(timestampEnd + eventsEpochMark.count)..<(payload.count - 2)], as: UTF8.self)
        guard !epoch.contains("\"") else { return nil }
        let list = Array(payload[arrayStart..<tail.lowerBound])
        guard case .success(let array) = JSONScanner.scan(list, keys: .none, maxElements: count),
              array.root.kind == .array, array.elementCount == count, array.elements.count == count else { return nil }
        // `count` is the array's real length from here on, not a number anyone could write.
        let acceptedAt = ISO8601.parse(String(decoding: payload[tail.upperBound..<timestampEnd], as: UTF8.self))
        var messages: [BusMessage] = []
        messages.reserveCapacity(count)
        var expected: Int64?
        for element in array.elements {
            let event = Array(list[element.range])
            guard let seq = StoredEventJSON.seq(of: event), expected == nil || seq == expected else { return nil }
            expected = seq + 1
            messages.append(.event(sessionId: sessionId, seq: seq, epoch: epoch, json: event, acceptedAtMillis: acceptedAt))
        }
        return messages
    }

    /// Our messages are parsed without re-serialising the event, so its bytes reach clients
    /// exactly as stored; anything else (the old backend's `{sessionId, event, timestamp}`) goes
    /// through Foundation.
    public static func parse(_ payload: [UInt8]) -> BusMessage? {
        if payload.starts(with: head), let quote = payload[head.count...].firstIndex(of: UInt8(ascii: "\"")) {
            let sessionId = String(decoding: payload[head.count..<quote], as: UTF8.self)
            let rest = payload[(quote + 1)...]
            if rest.starts(with: pushMark), payload.last == UInt8(ascii: "}") {
                return parsePush(sessionId: sessionId, message: payload[(rest.startIndex + pushMark.count)..<(payload.count - 1)])
            }
            if rest.starts(with: presenceMark) {
                return parsePresence(sessionId: sessionId, payload)
            }
            if rest.starts(with: resetMark), payload.count >= rest.startIndex + resetMark.count + 2,
               payload.suffix(2).elementsEqual("\"}".utf8) {
                let epoch = String(decoding: payload[(rest.startIndex + resetMark.count)..<(payload.count - 2)], as: UTF8.self)
                return .reset(sessionId: sessionId, epoch: epoch)
            }
            if rest.starts(with: eventMark), let tail = payload.lastRange(of: timestampMark) {
                let event = Array(payload[(rest.startIndex + 9)..<tail.lowerBound])
                if let seq = StoredEventJSON.seq(of: event) {
                    var epoch: String?
                    if let mark = payload.lastRange(of: epochMark), mark.lowerBound > tail.lowerBound,
                       payload.suffix(2).elementsEqual("\"}".utf8), mark.upperBound <= payload.count - 2 {
                        epoch = String(decoding: payload[mark.upperBound..<(payload.count - 2)], as: UTF8.self)
                    }
                    let acceptedAt = payload[tail.upperBound...].firstIndex(of: UInt8(ascii: "\"")).flatMap {
                        ISO8601.parse(String(decoding: payload[tail.upperBound..<$0], as: UTF8.self))
                    }
                    return .event(sessionId: sessionId, seq: seq, epoch: epoch, json: event, acceptedAtMillis: acceptedAt)
                }
            }
        }
        guard let object = try? JSONSerialization.jsonObject(with: Data(payload)) as? [String: Any],
              let sessionId = object["sessionId"] as? String, let event = object["event"],
              let eventJSON = try? JSONSerialization.data(withJSONObject: event) else { return nil }
        let seq = (object["seq"] as? NSNumber)?.int64Value ?? ((event as? [String: Any])?["seq"] as? NSNumber)?.int64Value
        return .event(sessionId: sessionId, seq: seq, epoch: object["epoch"] as? String, json: [UInt8](eventJSON),
                      acceptedAtMillis: (object["timestamp"] as? String).flatMap(ISO8601.parse))
    }
}

extension Array where Element == UInt8 {
    func lastRange(of needle: [UInt8]) -> Range<Int>? {
        guard count >= needle.count else { return nil }
        var i = count - needle.count
        while i >= 0 {
            if self[i] == needle[0], self[i..<(i + needle.count)].elementsEqual(needle) { return i..<(i + needle.count) }
            i -= 1
        }
        return nil
    }
}

extension RedisChannelMessage {
    /// What a subscriber does with each payload: an event for a session the listener does not
    /// watch dropped unread (counted); otherwise split and handed to the listener, each event
    /// of an `events` message on its own, in order; anything else (anyone with access to Redis
    /// can publish junk) counted and logged, at most one line per 10 s, and nothing of it
    /// delivered.
    static func receiver(listener: any BusListener, logger: Logger, channel: String) -> ([UInt8]) -> Void {
        let warnings = Locked(WarningLimiter(interval: 10_000_000_000))
        return { payload in
            // Most of a shared channel's events are for sessions nobody here watches: dropped
            // on the session id alone, before the timestamp or any JSON is read.
            if let route = eventRoute(payload), !listener.watches(route.sessionId) {
                return listener.busEventsUnwatched(route.events)
            }
            if let messages = split(payload) {
                for message in messages { listener.receive(message) }
                return
            }
            listener.busMessageMalformed()
            if let suppressed = warnings.withLock({ $0.admit(.malformedChannelMessage, now: MonotonicClock.now()) }) {
                logger.warning("ignored a malformed message on \(channel)",
                               metadata: ["bytes": "\(payload.count)", "suppressed": "\(suppressed)"])
            }
        }
    }
}
