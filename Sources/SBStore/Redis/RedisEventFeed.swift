import Foundation
public import Logging
public import SBEventLoop
public import SBRedis

/// The instance's one subscription to `P events`: parses each channel message into a
/// `BusMessage` for the hub, and after every resubscribe tells it to refill from history.
public final class RedisEventFeed: @unchecked Sendable {
    let subscriber: RedisSubscriber
    let logger: Logger

    public init(loop: EventLoop, url: RedisURL, prefix: String, logger: Logger, listener: any BusListener) {
        self.logger = logger
        subscriber = RedisSubscriber(
            loop: loop, url: url, channel: prefix + "events", logger: logger,
            onMessage: { [logger] payload in
                if let message = RedisEventFeed.parse(payload) {
                    listener.receive(message)
                } else {
                    logger.warning("ignored a malformed message on the events channel", metadata: ["bytes": "\(payload.count)"])
                }
            },
            onSubscribed: { afterReconnect in
                if afterReconnect {
                    logger.info("redis subscription re-established: refilling subscribers from history")
                    listener.busResynchronized()
                }
            })
    }

    public var isSubscribed: Bool { subscriber.isSubscribed }

    public func start() { subscriber.start() }

    public func close() { subscriber.close() }

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
