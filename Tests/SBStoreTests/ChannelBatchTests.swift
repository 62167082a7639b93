import Dispatch
import Foundation
import Logging
import SBCore
import SBEventLoop
import SBRedis
@testable import SBStore
import SBTestSupport
import XCTest

/// Group commit on the channel: one `events` message per session of an append script call
/// (REDIS_CHANNEL_BATCH=on), or one `event` message per event (off); receivers split it.
extension GroupCommitTests {
    /// `startStore`, plus a subscriber of `gc:events`, subscribed; what it hears collects in
    /// the returned lock.
    private func start(channelBatch: Bool = true) throws -> (RedisTestServer, EventLoop, RedisStore, Locked<[[UInt8]]>) {
        let (redis, loop, store) = try startStore(StoreSettings(), channelBatch: channelBatch)
        let heard = Locked<[[UInt8]]>([])
        let subscriber = RedisSubscriber(loop: loop, url: RedisURL(host: "127.0.0.1", port: redis.port), channel: "gc:events",
                                         logger: Logger(label: "test"),
                                         onMessage: { payload in heard.withLock { $0.append(payload) } }, onResubscribed: {})
        self.subscriber = subscriber
        loop.execute { subscriber.start() }
        XCTAssertTrue(waitFor(timeout: 10) { subscriber.isSubscribed })
        return (redis, loop, store, heard)
    }

    private func batchEvent(_ session: String, _ id: String, key: String? = nil) -> NewEvent {
        NewEvent(sessionId: session, eventId: id, timestampMillis: 1,
                 body: Array("{\"eventId\":\"\(id)\",\"sessionId\":\"\(session)\",\"n\":[1,{\"x\":\"]\\\"}\"}]}".utf8), idempotencyKey: key)
    }

    /// The timestamp and epoch a message carries (the script's clock and the stream's epoch).
    private func timestampAndEpoch(_ message: [UInt8]) -> (String, String) {
        let text = String(decoding: message, as: UTF8.self)
        let timestamp = String(text.components(separatedBy: "\"timestamp\":\"").last!.prefix(24))
        let epoch = String(text.components(separatedBy: "\"epoch\":\"").last!.dropLast(2))
        return (timestamp, epoch)
    }

    /// One owner per format: the `events` message the script writes is, byte for byte, the one
    /// `RedisChannelMessage.events` writes; a session with one event of the call still gets
    /// today's `event` message; `split` gives each event with its own seq, in order.
    func testLuaAndSwiftWritersAgreeOnAMultiEventMessage() throws {
        let (_, loop, store, heard) = try start()
        let events = [batchEvent("m-a", "a1"), batchEvent("m-b", "b1"), batchEvent("m-a", "a2"), batchEvent("m-a", "a3")]
        let appended = try append(loop, store, events)
        XCTAssertEqual(appended.map { "\($0.sessionId)\($0.seq)" }, ["m-a1", "m-b1", "m-a2", "m-a3"], "answers in the caller's order")
        XCTAssertTrue(waitFor(timeout: 5) { heard.withLock { $0.count } >= 2 })
        Thread.sleep(forTimeInterval: 0.2)  // a window for a third message that must not come
        let messages = heard.withLock { $0 }
        XCTAssertEqual(messages.count, 2, "one message per session of the call")

        let (timestamp, epoch) = timestampAndEpoch(messages[0])
        let stored = [events[0], events[2], events[3]].enumerated().map { StoredEventJSON.make(seq: Int64($0.offset + 1), body: $0.element.body) }
        XCTAssertEqual(messages[0], RedisChannelMessage.events(sessionId: "m-a", stored: stored, timestamp: timestamp, epoch: epoch),
                       "Lua and Swift wrote the same events message: \(String(decoding: messages[0], as: UTF8.self))")
        let (timestampB, epochB) = timestampAndEpoch(messages[1])
        XCTAssertEqual(messages[1], RedisChannelMessage.event(sessionId: "m-b", storedJSON: StoredEventJSON.make(seq: 1, body: events[1].body),
                                                              timestamp: timestampB, seq: 1, epoch: epochB),
                       "a single event keeps today's message")

        let split = try XCTUnwrap(RedisChannelMessage.split(messages[0]))
        XCTAssertEqual(split.count, 3)
        for (index, message) in split.enumerated() {
            guard case .event(let sid, let seq, let messageEpoch, let json, let acceptedAt) = message else { return XCTFail("\(message)") }
            XCTAssertEqual(sid, "m-a")
            XCTAssertEqual(seq, Int64(index + 1))
            XCTAssertEqual(messageEpoch, epoch)
            XCTAssertEqual(json, stored[index])
            XCTAssertEqual(acceptedAt, ISO8601.parse(timestamp))
        }
        XCTAssertNil(RedisChannelMessage.parse(messages[0]), "parse reads single messages; split reads this one")
    }

    /// REDIS_CHANNEL_BATCH=off: one `event` message per event, as before group commit.
    func testTheLegacySwitchPublishesOneMessagePerEvent() throws {
        let (_, loop, store, heard) = try start(channelBatch: false)
        let events = [batchEvent("l-a", "a1"), batchEvent("l-a", "a2"), batchEvent("l-a", "a3")]
        XCTAssertEqual(try append(loop, store, events).map(\.seq), [1, 2, 3])
        XCTAssertTrue(waitFor(timeout: 5) { heard.withLock { $0.count } >= 3 })
        Thread.sleep(forTimeInterval: 0.2)
        let messages = heard.withLock { $0 }
        XCTAssertEqual(messages.count, 3)
        for (index, message) in messages.enumerated() {
            let (timestamp, epoch) = timestampAndEpoch(message)
            XCTAssertEqual(message, RedisChannelMessage.event(sessionId: "l-a", storedJSON: StoredEventJSON.make(seq: Int64(index + 1), body: events[index].body),
                                                              timestamp: timestamp, seq: Int64(index + 1), epoch: epoch))
        }
    }

    /// Idempotency is checked per event inside one call: a repeated key answers the first
    /// append's seq and eventId and stores nothing; the message carries only stored events.
    func testIdempotencyIsPerEventInsideABatch() throws {
        let (redis, loop, store, heard) = try start()
        let first = try append(loop, store, [batchEvent("i-a", "a1", key: "k1"), batchEvent("i-a", "a2", key: "k1"),
                                             batchEvent("i-a", "a3", key: "k2"), batchEvent("i-a", "a4")])
        XCTAssertEqual(first.map { "\($0.seq)\($0.duplicate ? "d" : "")" }, ["1", "1d", "2", "3"])
        XCTAssertEqual(first[1].eventId, "a1", "the repeat answers the first append's eventId")
        XCTAssertTrue(try redis.command(["GET", "gc:idem:i-a:k1"]).contains("1:a1"), "the key names and record are as before")
        XCTAssertTrue(try redis.command(["GET", "gc:idem:i-a:k2"]).contains("2:a3"))
        XCTAssertTrue(try redis.command(["LLEN", "gc:events:i-a"]).hasSuffix(":3\r\n"))
        let again = try append(loop, store, [batchEvent("i-a", "a3-retry", key: "k2"), batchEvent("i-a", "a5", key: "k3")])
        XCTAssertEqual(again.map { "\($0.seq)\($0.duplicate ? "d" : "")\($0.eventId)" }, ["2da3", "4a5"])
        XCTAssertTrue(waitFor(timeout: 5) { heard.withLock { $0.count } >= 2 })
        Thread.sleep(forTimeInterval: 0.2)
        let messages = heard.withLock { $0 }
        XCTAssertEqual(messages.count, 2)
        let seqs = messages.compactMap(RedisChannelMessage.split).map { $0.map { message -> Int64 in
            guard case .event(_, let seq?, _, _, _) = message else { return -1 }
            return seq
        } }
        XCTAssertEqual(seqs, [[1, 2, 3], [4]], "each stored event published once, repeats not at all")
    }

    final class BusRecorder: BusListener, @unchecked Sendable {
        let received = Locked<[BusMessage]>([])
        let unwatched = Locked(0)
        let malformed = Locked(0)
        let watched: Set<String>
        init(watching: Set<String>) { watched = watching }
        func receive(_ message: BusMessage) { received.withLock { $0.append(message) } }
        func busResynchronized() {}
        func watches(_ sessionId: String) -> Bool { watched.contains(sessionId) }
        func busEventsUnwatched(_ events: Int) { unwatched.withLock { $0 += events } }
        func busMessageMalformed() { malformed.withLock { $0 += 1 } }
    }

    /// The receiving end: a watched `events` message is delivered as its events in order; one
    /// for a session nobody watches is counted and dropped unread (even if malformed); a
    /// malformed one for a watched session is counted and nothing of it is delivered.
    func testTheReceiverSplitsDropsUnwatchedAndRefusesMalformed() {
        let recorder = BusRecorder(watching: ["w"])
        let receive = RedisChannelMessage.receiver(listener: recorder, logger: Logger(label: "test"), channel: "test")
        let stored = (5...7).map { StoredEventJSON.make(seq: Int64($0), body: Array("{\"eventId\":\"e\($0)\",\"timestamp\":\"2026-12-07T11:00:00Z\",\"s\":\"],\\\"epoch\\\":\\\"\"}".utf8)) }
        let good = RedisChannelMessage.events(sessionId: "w", stored: stored, timestamp: "2026-12-07T12:00:00.000Z", epoch: "00ab")
        receive(good)
        let seqs = recorder.received.withLock { $0 }.map { message -> Int64 in
            guard case .event("w", let seq?, "00ab", _, _) = message else { return -1 }
            return seq
        }
        XCTAssertEqual(seqs, [5, 6, 7])

        receive(RedisChannelMessage.events(sessionId: "other", stored: stored, timestamp: "2026-12-07T12:00:00.000Z", epoch: "00ab"))
        receive(RedisChannelMessage.event(sessionId: "other", storedJSON: stored[0], timestamp: "2026-12-07T12:00:00.000Z", seq: 5, epoch: "00ab"))
        receive(Array(#"{"sessionId":"other","kind":"events","count":2,"events":[broken"#.utf8))
        XCTAssertEqual(recorder.unwatched.withLock { $0 }, 6, "3 + 1 + 2 events dropped unread")
        XCTAssertEqual(recorder.malformed.withLock { $0 }, 0)

        let text = String(decoding: good, as: UTF8.self)
        let malformed = [
            text.replacingOccurrences(of: "\"count\":3", with: "\"count\":4"),              // count and array disagree
            text.replacingOccurrences(of: "{\"seq\":6,", with: "{\"seq\":9,"),               // seqs not consecutive
            text.replacingOccurrences(of: "{\"seq\":6,", with: "{\"sq\":6,"),                // not a stored event
            String(text.dropLast(3)),                                                       // truncated
            text.replacingOccurrences(of: "\"epoch\":\"00ab\"}", with: "\"epoch\":\"00ab\",\"x\":1}"),  // a tail not ours
            text.replacingOccurrences(of: "},{\"seq\":6", with: "}{\"seq\":6"),              // not a JSON array
            text.replacingOccurrences(of: "\"count\":3", with: "\"count\":1"),              // one event is an `event` message
        ]
        for payload in malformed { receive(Array(payload.utf8)) }
        XCTAssertEqual(recorder.malformed.withLock { $0 }, malformed.count, "each counted")
        XCTAssertEqual(recorder.received.withLock { $0 }.count, 3, "nothing of a malformed message delivered")
    }
}
