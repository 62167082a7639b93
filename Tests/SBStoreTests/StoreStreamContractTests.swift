import Foundation
import Logging
import XCTest
import SBCore
import SBEventLoop
import SBRedis
@testable import SBStore
import SBTestSupport

/// Streams, epochs and idempotent appends: the same bodies for MemoryStore and RedisStore.
extension StoreContract {
    func page(_ session: String, after: Int64, count: Int = 100, bytes: Int = 1 << 20) throws -> StreamPage {
        try call { $0.readStream(sessionId: session, after: after, limit: PageLimit(count: count, bytes: bytes), $1) }
    }

    func testStreamPagesPositionsAndEpochs() throws {
        let empty = try page("c-st", after: 0)
        XCTAssertEqual([empty.lastSeq, empty.oldestSeq], [0, 1])
        XCTAssertEqual(empty.events, [])
        for i in 1...7 { _ = try call { $0.appendEvents([self.event("c-st", "e\(i)")], $1) } }
        let first = try page("c-st", after: 0, count: 2)
        XCTAssertEqual(first.epoch, empty.epoch, "appends keep the epoch a reader already saw")
        XCTAssertEqual(first.events.map(\.seq), [3, 4], "history limit 5 keeps 3...7; a page starts at the oldest kept")
        XCTAssertEqual([first.lastSeq, first.oldestSeq], [7, 3])
        XCTAssertEqual(try page("c-st", after: 4, count: 2).events.map(\.seq), [5, 6])
        let one = try page("c-st", after: 4, bytes: 1)
        XCTAssertEqual(one.events.map(\.seq), [5], "a byte bound below one event still returns one")
        XCTAssertEqual(try page("c-st", after: 7).events, [])
        XCTAssertEqual(try page("c-st", after: 0, count: 0).events, [], "count 0 reads only the position")

        XCTAssertTrue(try call { $0.deleteSession(id: "c-st", $1) }, "no session record, but its events are something to delete")
        let reset = try page("c-st", after: 0)
        XCTAssertNotEqual(reset.epoch, first.epoch, "DELETE starts a new epoch")
        XCTAssertEqual([reset.lastSeq, reset.oldestSeq], [0, 1])
        XCTAssertEqual(try call { $0.appendEvents([self.event("c-st", "n1")], $1) }.map(\.seq), [1])
        XCTAssertEqual(try page("c-st", after: 0).epoch, reset.epoch, "the new stream keeps the epoch DELETE announced")
    }

    func testIdempotentAppends() throws {
        var keyed = event("c-id", "e1")
        keyed.idempotencyKey = "e:e1"
        var retry = event("c-id", "e1")
        retry.idempotencyKey = "e:e1"
        var header = event("c-id", "e2")
        header.idempotencyKey = "k:abc"
        var headerRetry = event("c-id", "generated-again")
        headerRetry.idempotencyKey = "k:abc"
        let batch = try call { $0.appendEvents([keyed, retry, header, self.event("c-id", "plain"), headerRetry], $1) }
        XCTAssertEqual(batch.map(\.seq), [1, 1, 2, 3, 2])
        XCTAssertEqual(batch.map(\.duplicate), [false, true, false, false, true])
        XCTAssertEqual(batch.map(\.eventId), ["e1", "e1", "e2", "plain", "e2"], "a repeat answers with the original eventId")
        let later = try call { $0.appendEvents([retry], $1) }
        XCTAssertEqual(later, [AppendedEvent(sessionId: "c-id", eventId: "e1", seq: 1, duplicate: true)])
        let stored: [StoredEvent] = try call { $0.events(sessionId: "c-id", query: EventQuery(), $1) }
        XCTAssertEqual(stored.map(\.seq), [1, 2, 3], "each key stored once")
    }

    func testQueuesAreBounded() throws {
        for i in 0..<3 {
            try call { $0.enqueue(.input, sessionId: "c-qb", item: QueuedItem(json: Array("{\"i\":\(i)}".utf8)), $1) }
        }
        XCTAssertThrowsError(try call { (store: any Store, done: @escaping (Result<Void, StoreError>) -> Void) in
            store.enqueue(.input, sessionId: "c-qb", item: QueuedItem(json: Array("{}".utf8)), done)
        }) { error in
            guard case .full = error as? StoreError else { return XCTFail("expected .full, got \(error)") }
        }
        XCTAssertEqual(try call { $0.drain(.input, sessionId: "c-qb", $1) }.count, 3)
    }
}

extension RedisStoreContractTests {
    func testFlushAllStartsANewEpoch() throws {
        for i in 1...3 { _ = try call { $0.appendEvents([self.event("c-fl", "e\(i)")], $1) } }
        let before = try page("c-fl", after: 0)
        _ = try redis.command(["FLUSHALL"], password: "pw")
        XCTAssertEqual(try call { $0.appendEvents([self.event("c-fl", "n1")], $1) }.map(\.seq), [1])
        let after = try page("c-fl", after: 0)
        XCTAssertNotEqual(after.epoch, before.epoch, "data loss shows as a new epoch")
        XCTAssertEqual(after.events.map(\.seq), [1])
    }

    /// A subscriber of the store's classic channel (`ct:events`), subscribed; what it hears
    /// collects in the box (read it on loop 0).
    func subscribeToEventsChannel() throws -> (RedisSubscriber, Box<[[UInt8]]>) {
        let url = try RedisURL(parsing: "redis://:pw@127.0.0.1:\(redis.port)/3")
        let payloads = Box<[[UInt8]]>([])
        let subscriber = RedisSubscriber(loop: group.loops[0], url: url, channel: "ct:events", logger: Logger(label: "test"),
                                         onMessage: { payload in payloads.value.append(payload) }, onResubscribed: {})
        group.loops[0].execute { subscriber.start() }
        XCTAssertTrue(waitFor(timeout: 10) { subscriber.isSubscribed })
        return (subscriber, payloads)
    }

    /// One owner per format: the bytes the Lua scripts write are the bytes the Swift writers
    /// produce for the same input, and `parse` reads them back.
    func testLuaAndSwiftWritersAgree() throws {
        let (subscriber, payloads) = try subscribeToEventsChannel()
        let body = Array("{\"eventId\":\"é-1\",\"sessionId\":\"c-fmt\",\"type\":\"t\",\"n\":[1,{\"x\":\"\\u0000\"}]}".utf8)
        let appended = try call { $0.appendEvents([NewEvent(sessionId: "c-fmt", eventId: "é-1", timestampMillis: 5, body: body)], $1) }
        let expected = StoredEventJSON.make(seq: 1, body: body)
        let list = try redis.command(["LRANGE", "ct:events:c-fmt", "0", "-1"], password: "pw", db: 3)
        XCTAssertTrue(list.hasSuffix("*1\r\n$\(expected.count)\r\n" + String(decoding: expected, as: UTF8.self) + "\r\n"),
                      "the append script stored exactly StoredEventJSON.make's bytes: \(list)")
        XCTAssertTrue(try call { $0.deleteSession(id: "c-fmt", $1) }, "its events are something to delete")
        let stored = try page("c-fmt", after: 0)
        let item = Array("{\"id\":\"cmd-1\",\"type\":\"pause\"}".utf8)
        try call { $0.enqueue(.commands, sessionId: "c-fmt", item: QueuedItem(json: item), $1) }
        XCTAssertTrue(waitFor(timeout: 5) { self.onLoop { payloads.value.count } >= 3 })
        let messages = onLoop { payloads.value }
        group.loops[0].execute { subscriber.close() }

        XCTAssertEqual(appended.map(\.seq), [1])
        XCTAssertEqual(stored.events, [], "deleted")
        // The event message: same bytes as the Swift writer, given the timestamp and epoch it carries.
        guard case .event(let sid, let seq, let epoch?, let json, let acceptedAt) = RedisChannelMessage.parse(messages[0]) else {
            return XCTFail("unparsed event message: \(String(decoding: messages[0], as: UTF8.self))")
        }
        XCTAssertEqual([sid], ["c-fmt"])
        XCTAssertEqual(seq, 1)
        XCTAssertEqual(json, expected, "Lua and StoredEventJSON.make wrote the same stored event")
        let timestamp = String(decoding: messages[0], as: UTF8.self).components(separatedBy: "\"timestamp\":\"")[1].prefix(24)
        XCTAssertEqual(messages[0], RedisChannelMessage.event(sessionId: "c-fmt", storedJSON: expected, timestamp: String(timestamp), seq: 1, epoch: epoch))
        XCTAssertEqual(acceptedAt, ISO8601.parse(String(timestamp)), "the accept time read back is the script's timestamp")
        XCTAssertLessThan(abs((acceptedAt ?? 0) - WallClock.millisecondsSinceEpoch()), 60_000, "and it is this host's clock at the append")
        XCTAssertEqual(messages[1], RedisChannelMessage.reset(sessionId: "c-fmt", epoch: stored.epoch), "the reset message, byte for byte")
        // The push carries the queued item; its bytes are the ones earlier versions published.
        XCTAssertEqual(String(decoding: messages[2], as: UTF8.self),
                       #"{"sessionId":"c-fmt","kind":"push","message":{"type":"command","sessionId":"c-fmt","payload":{"id":"cmd-1","type":"pause"}}}"#)
        guard case .push(let pushed, let queue, let pushedItem) = RedisChannelMessage.parse(messages[2]) else {
            return XCTFail("unparsed push message")
        }
        XCTAssertEqual(pushed, "c-fmt")
        XCTAssertEqual(queue, .commands)
        XCTAssertEqual(pushedItem, item)
    }

    /// Pushes of both queues read back to their queue and item; a `message` of another shape
    /// is not a push (it is dropped as malformed, never delivered as something else).
    func testPushMessagesRoundTrip() {
        for queue in [QueueKind.commands, .input] {
            let item = Array(#"{"input":{"x":"}"}}"#.utf8)
            guard case .push("s-1", queue, item) = RedisChannelMessage.parse(RedisChannelMessage.push(sessionId: "s-1", queue: queue, item: item)) else {
                return XCTFail("\(queue) push did not round-trip")
            }
        }
        XCTAssertNil(RedisChannelMessage.parse(Array(#"{"sessionId":"s-1","kind":"push","message":{"type":"other","sessionId":"s-1","payload":{}}}"#.utf8)))
        XCTAssertNil(RedisChannelMessage.parse(Array(#"{"sessionId":"s-1","kind":"push","message":{"type":"input","sessionId":"s-2","payload":{}}}"#.utf8)))
    }

    func onLoop<T>(_ body: @escaping () -> T) -> T {
        let result = Box<T?>(nil)
        let work = Box(body)
        let done = DispatchSemaphore(value: 0)
        group.loops[0].execute {
            result.value = work.value()
            done.signal()
        }
        done.wait()
        return result.value!
    }
}
