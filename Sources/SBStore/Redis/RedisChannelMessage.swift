import Foundation

/// The messages on the `P events` channel, in both directions.
///
/// Events keep the original backend's shape `{"sessionId","event","timestamp"}` plus `"seq"`
/// (built by the append script), so an old instance and Switchboard can share one Redis.
/// Command and input pushes travel as `{"sessionId","kind":"push","message":<WebSocket message>}`.
enum RedisChannelMessage {
    /// The channel message for a command or input push (built here, published by the enqueue
    /// script). Session ids are validated as `[A-Za-z0-9._:-]`, so they need no escaping.
    static func push(sessionId: String, message: [UInt8]) -> [UInt8] {
        var out = Array("{\"sessionId\":\"".utf8)
        out.append(contentsOf: sessionId.utf8)
        out.append(contentsOf: "\",\"kind\":\"push\",\"message\":".utf8)
        out.append(contentsOf: message)
        out.append(UInt8(ascii: "}"))
        return out
    }

    /// Our messages are parsed without re-serialising the event, so its bytes reach clients
    /// exactly as stored; anything else (the old backend's `{sessionId, event, timestamp}`) goes
    /// through Foundation.
    static func parse(_ payload: [UInt8]) -> BusMessage? {
        let head = Array("{\"sessionId\":\"".utf8)
        if payload.starts(with: head), let quote = payload[head.count...].firstIndex(of: UInt8(ascii: "\"")) {
            let sessionId = String(decoding: payload[head.count..<quote], as: UTF8.self)
            let rest = payload[(quote + 1)...]
            let pushMark = Array(",\"kind\":\"push\",\"message\":".utf8)
            let eventMark = Array(",\"event\":{\"seq\":".utf8)
            if rest.starts(with: pushMark), payload.last == UInt8(ascii: "}") {
                return .push(sessionId: sessionId, message: Array(payload[(rest.startIndex + pushMark.count)..<(payload.count - 1)]))
            }
            if rest.starts(with: eventMark), let tail = payload.lastRange(of: Array(",\"timestamp\":\"".utf8)) {
                let event = Array(payload[(rest.startIndex + 9)..<tail.lowerBound])
                if let seq = StoredEventJSON.seq(of: event) {
                    return .event(sessionId: sessionId, seq: seq, json: event)
                }
            }
        }
        guard let object = try? JSONSerialization.jsonObject(with: Data(payload)) as? [String: Any],
              let sessionId = object["sessionId"] as? String, let event = object["event"],
              let eventJSON = try? JSONSerialization.data(withJSONObject: event) else { return nil }
        let seq = (object["seq"] as? NSNumber)?.int64Value ?? ((event as? [String: Any])?["seq"] as? NSNumber)?.int64Value
        return .event(sessionId: sessionId, seq: seq, json: [UInt8](eventJSON))
    }
}

extension Array where Element == UInt8 {
    func lastRange(of needle: [UInt8]) -> Range<Int>? {
        guard count >= needle.count else { return nil }
        var i = count - needle.count
        while i >= 0 {
            if self[i] == needle[0], Array(self[i..<(i + needle.count)]) == needle { return i..<(i + needle.count) }
            i -= 1
        }
        return nil
    }
}
