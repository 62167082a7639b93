import Dispatch
import Foundation
import Logging
import SBCore
import SBEventLoop
import SBRedis
@testable import SBStore
import SBTestSupport
import XCTest

/// Group commit: appends made in one loop turn go to Redis as one script call, and each
/// request still gets exactly its own answer.
final class GroupCommitTests: XCTestCase {
    var redis: RedisTestServer?
    var group: EventLoopGroup?
    /// Held here: a subscriber's callbacks hold it only weakly.
    var subscriber: RedisSubscriber?

    override func tearDown() {
        super.tearDown()
        group?.stopAll()
        group?.waitUntilStopped()
        redis?.kill(signal: SIGKILL)
        redis = nil
    }

    /// A redis-server, one loop, and a RedisStore on it, connected.
    func startStore(_ settings: StoreSettings, channelBatch: Bool = true) throws -> (RedisTestServer, EventLoop, RedisStore) {
        try XCTSkipUnless(RedisTestServer.isAvailable, "redis-server not installed")
        let redis = try RedisTestServer()
        self.redis = redis
        let group = try EventLoopGroup(count: 1)
        self.group = group
        group.start()
        let loop = group.loops[0]
        let store = RedisStore(loop: loop, url: RedisURL(host: "127.0.0.1", port: redis.port), prefix: "gc:",
                               settings: settings, logger: Logger(label: "test"), channelBatch: channelBatch)
        loop.execute { store.start() }
        XCTAssertTrue(waitFor(timeout: 10) { store.isAvailable })
        return (redis, loop, store)
    }

    /// One request's events, appended in one script call.
    func append(_ loop: EventLoop, _ store: RedisStore, _ events: [NewEvent]) throws -> [AppendedEvent] {
        let result = Locked<Result<[AppendedEvent], StoreError>?>(nil)
        let done = DispatchSemaphore(value: 0)
        loop.execute {
            store.appendEvents(events) { outcome in
                result.withLock { $0 = outcome }
                done.signal()
            }
        }
        XCTAssertEqual(done.wait(timeout: .now() + 10), .success)
        return try XCTUnwrap(result.withLock { $0 }).get()
    }

    private func event(_ session: String, _ id: String, key: String? = nil) -> NewEvent {
        NewEvent(sessionId: session, eventId: id, timestampMillis: 1,
                 body: Array("{\"eventId\":\"\(id)\",\"sessionId\":\"\(session)\"}".utf8), idempotencyKey: key)
    }

    func testAppendsOfOneTurnShareOneScriptCallAndEachGetsItsOwnSeqs() throws {
        let (redis, loop, store) = try startStore(StoreSettings())

        // Ten requests in one turn: two sessions interleaved, a two-event batch, and a repeated
        // idempotency key inside the same turn.
        let requests: [[NewEvent]] = [
            [event("a", "a1")], [event("b", "b1")], [event("a", "a2"), event("b", "b2")], [event("a", "a3", key: "k")],
            [event("a", "a3-again", key: "k")], [event("b", "b3")], [event("a", "a4")], [event("b", "b4")],
            [event("a", "a5")], [event("b", "b5")],
        ]
        let answers = Locked<[Int: [AppendedEvent]]>([:])
        let completions = Locked(0)
        let done = DispatchSemaphore(value: 0)
        loop.execute {
            for (index, events) in requests.enumerated() {
                store.appendEvents(events) { result in
                    answers.withLock { $0[index] = try? result.get() }
                    if completions.withLock({ $0 += 1; return $0 }) == requests.count { done.signal() }
                }
            }
        }
        XCTAssertEqual(done.wait(timeout: .now() + 10), .success)
        XCTAssertTrue(waitFor(timeout: 1) { completions.withLock { $0 } == requests.count })
        Thread.sleep(forTimeInterval: 0.2)  // a window for a second completion that must not come
        XCTAssertEqual(completions.withLock { $0 }, requests.count, "each request answered exactly once")
        let seqs = answers.withLock { $0 }.mapValues { $0.map { "\($0.sessionId)\($0.seq)\($0.duplicate ? "d" : "")" } }
        XCTAssertEqual(seqs, [0: ["a1"], 1: ["b1"], 2: ["a2", "b2"], 3: ["a3"], 4: ["a3d"], 5: ["b3"], 6: ["a4"],
                              7: ["b4"], 8: ["a5"], 9: ["b5"]])
        XCTAssertEqual(answers.withLock { $0[4]?.first?.eventId }, "a3", "the repeat answers the first append's eventId")
        let grouped = store.appendCommitBatches.grouped
        XCTAssertEqual(grouped.calls, 1, "one script call carried the turn's ten requests")
        XCTAssertEqual(grouped.events, 11)
        let calls = try redis.command(["INFO", "commandstats"])
        XCTAssertTrue(calls.contains("cmdstat_evalsha:calls=1,"), calls)

        // A lone append is not held back: it goes out in its own turn.
        let lone = DispatchSemaphore(value: 0)
        let started = DispatchTime.now()
        let loneEvent = event("a", "a6")
        loop.execute { store.appendEvents([loneEvent]) { _ in lone.signal() } }
        XCTAssertEqual(lone.wait(timeout: .now() + 5), .success)
        XCTAssertLessThan(Double(DispatchTime.now().uptimeNanoseconds - started.uptimeNanoseconds) / 1e6, 500)
        XCTAssertEqual(store.appendCommitBatches.grouped.calls, 1, "a lone append is no group")
    }

    /// One call with more events of one session than Lua can unpack at once (the script pushes
    /// them in pieces), trimmed to the history limit: dense seqs, the newest kept.
    func testALargeBatchOfOneSessionIsStoredWholeAndTrimmed() throws {
        let (redis, loop, store) = try startStore(StoreSettings(historyLimit: 1500))
        let appended = try append(loop, store, (1...2500).map { event("big", "e\($0)") })
        XCTAssertEqual(appended.map(\.seq), Array(1...2500))
        XCTAssertTrue(try redis.command(["LLEN", "gc:events:big"]).hasSuffix(":1500\r\n"))
        XCTAssertTrue(try redis.command(["LLEN", "gc:times:big"]).hasSuffix(":1500\r\n"))
        XCTAssertTrue(try redis.command(["LINDEX", "gc:events:big", "0"]).contains("{\"seq\":1001,"))
        XCTAssertTrue(try redis.command(["GET", "gc:seq:big"]).contains("2500"))
    }
}
