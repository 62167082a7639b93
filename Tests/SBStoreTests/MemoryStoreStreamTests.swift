import SBCore
import XCTest
@testable import SBStore

/// Streams on MemoryStore: epochs, pages, idempotent appends, bounded queues and expiry work.
final class MemoryStoreStreamTests: XCTestCase {
    final class Clock: @unchecked Sendable {
        var millis: Int64 = 1_000_000
    }

    let clock = Clock()
    var store: MemoryStore!
    let recorder = MemoryStoreTests.Recorder()

    override func setUp() {
        let clock = self.clock
        store = MemoryStore(settings: StoreSettings(sessionTTLSeconds: 10, queueTTLSeconds: 5, historyLimit: 100,
                                                    idempotencyTTLSeconds: 3, maxQueueLength: 2),
                            clock: { clock.millis })
        store.setListener(recorder)
    }

    func sync<T>(_ call: (@escaping (Result<T, StoreError>) -> Void) -> Void) throws -> T {
        var out: Result<T, StoreError>?
        call { out = $0 }
        return try XCTUnwrap(out, "completion ran synchronously").get()
    }

    func event(_ session: String, _ id: String, key: String? = nil, bytes: Int = 0) -> NewEvent {
        let pad = String(repeating: "x", count: bytes)
        return NewEvent(sessionId: session, eventId: id, timestampMillis: 0,
                        body: Array("{\"eventId\":\"\(id)\",\"type\":\"t\",\"pad\":\"\(pad)\"}".utf8), idempotencyKey: key)
    }

    func testReadStreamPagesByCountAndBytes() throws {
        for i in 1...10 { _ = try sync { store.appendEvents([event("a", "e\(i)", bytes: 100)], $0) } }
        let first = try sync { store.readStream(sessionId: "a", after: 0, limit: PageLimit(count: 4, bytes: 1 << 20), $0) }
        XCTAssertEqual(first.events.map(\.seq), [1, 2, 3, 4])
        XCTAssertEqual(first.lastSeq, 10)
        XCTAssertEqual(first.oldestSeq, 1)
        let size = first.events[0].json.count
        let byBytes = try sync { store.readStream(sessionId: "a", after: 4, limit: PageLimit(count: 100, bytes: size * 2 + 1), $0) }
        XCTAssertEqual(byBytes.events.map(\.seq), [5, 6], "bounded by bytes")
        let tiny = try sync { store.readStream(sessionId: "a", after: 6, limit: PageLimit(count: 100, bytes: 1), $0) }
        XCTAssertEqual(tiny.events.map(\.seq), [7], "at least one event even when it is larger than the byte bound")
        let none = try sync { store.readStream(sessionId: "a", after: 0, limit: PageLimit(count: 0, bytes: 0), $0) }
        XCTAssertEqual(none.events, [])
        XCTAssertEqual(none.epoch, first.epoch)
    }

    func testEpochSurvivesAppendsAndChangesOnDeleteAndExpiry() throws {
        let fresh = try sync { store.readStream(sessionId: "s", after: 0, limit: PageLimit(count: 10, bytes: 1000), $0) }
        XCTAssertEqual(fresh.lastSeq, 0)
        XCTAssertEqual(fresh.oldestSeq, 1)
        _ = try sync { store.appendEvents([event("s", "e1")], $0) }
        let one = try sync { store.readStream(sessionId: "s", after: 0, limit: PageLimit(count: 10, bytes: 1000), $0) }
        XCTAssertEqual(one.epoch, fresh.epoch, "the first append keeps the epoch a subscriber already saw")
        _ = try sync { store.deleteSession(id: "s", $0) }
        let afterDelete = try sync { store.readStream(sessionId: "s", after: 0, limit: PageLimit(count: 10, bytes: 1000), $0) }
        XCTAssertNotEqual(afterDelete.epoch, fresh.epoch)
        XCTAssertEqual(afterDelete.lastSeq, 0)
        let resets = recorder.messages.withLock { $0.compactMap { if case .reset(let id, let epoch) = $0 { return (id, epoch) } else { return nil } } }
        XCTAssertEqual(resets.map(\.0), ["s"])
        XCTAssertEqual(resets.map(\.1), [afterDelete.epoch], "the reset announces the epoch the new stream has")
        XCTAssertEqual(try sync { store.appendEvents([event("s", "e2")], $0) }.map(\.seq), [1])
        clock.millis += 11_000
        let afterExpiry = try sync { store.readStream(sessionId: "s", after: 0, limit: PageLimit(count: 10, bytes: 1000), $0) }
        XCTAssertNotEqual(afterExpiry.epoch, afterDelete.epoch)
        XCTAssertEqual(afterExpiry.lastSeq, 0)
    }

    func testIdempotencyKeyStoresOnceWithinTTL() throws {
        let first = try sync { store.appendEvents([event("s", "e1", key: "k:1")], $0) }
        let again = try sync { store.appendEvents([event("s", "other", key: "k:1"), event("s", "e3", key: "k:1"), event("s", "e4")], $0) }
        XCTAssertEqual(first, [AppendedEvent(sessionId: "s", eventId: "e1", seq: 1)])
        XCTAssertEqual(again.map(\.duplicate), [true, true, false])
        XCTAssertEqual(again.map(\.seq), [1, 1, 2])
        XCTAssertEqual(again.map(\.eventId), ["e1", "e1", "e4"], "a repeat answers with the original eventId")
        XCTAssertEqual(try sync { store.appendEvents([event("t", "x", key: "k:1")], $0) }.map(\.duplicate), [false],
                       "keys are per session")
        clock.millis += 3_001
        XCTAssertEqual(try sync { store.appendEvents([event("s", "e5", key: "k:1")], $0) }.map(\.seq), [3], "forgotten after IDEMPOTENCY_TTL")
        XCTAssertEqual(recorder.eventSeqs.count, 4, "repeats published nothing")
    }

    func testQueuesAreBoundedInLength() throws {
        for i in 0..<2 {
            try sync { store.enqueue(.input, sessionId: "q", item: QueuedItem(json: Array("{\"i\":\(i)}".utf8)), $0) }
        }
        var third: Result<Void, StoreError>?
        store.enqueue(.input, sessionId: "q", item: QueuedItem(json: Array("{}".utf8))) { third = $0 }
        guard case .failure(.full) = third else { return XCTFail("expected .full, got \(String(describing: third))") }
        XCTAssertEqual(try sync { store.drain(.input, sessionId: "q", $0) }.count, 2)
        try sync { store.enqueue(.input, sessionId: "q", item: QueuedItem(json: Array("{}".utf8)), $0) }
    }

    func testSweepDoesBoundedWorkAndKeepsLiveKeys() throws {
        for i in 0..<(MemoryStore.sweepBudget * MemoryStore.shardCount * 2) {
            _ = try sync { store.appendEvents([event("s\(i)", "e")], $0) }
        }
        _ = try sync { store.appendEvents([event("keep", "e")], $0) }
        clock.millis += 9_000
        _ = try sync { store.appendEvents([event("keep", "e2")], $0) }  // refreshed: lives on
        clock.millis += 2_000
        let firstPass = store.sweepExpired()
        XCTAssertLessThanOrEqual(firstPass, MemoryStore.sweepBudget * MemoryStore.shardCount, "bounded work per pass")
        var total = firstPass
        for _ in 0..<10 { total += store.sweepExpired() }
        XCTAssertEqual(total, MemoryStore.sweepBudget * MemoryStore.shardCount * 2, "every expired stream removed over passes")
        XCTAssertEqual(try sync { store.events(sessionId: "keep", query: EventQuery(), $0) }.map(\.seq), [1, 2])
    }

    /// Appenders on several threads: the bus hears each session's events in exactly seq order,
    /// every one once, though publishing happens outside the shard lock.
    func testConcurrentAppendsArePublishedInSeqOrder() {
        let store = self.store!
        let body = Array("{\"eventId\":\"x\",\"type\":\"t\"}".utf8)
        DispatchQueue.concurrentPerform(iterations: 4) { worker in
            for i in 0..<2000 {
                let event = NewEvent(sessionId: i % 2 == 0 ? "race-a" : "race-b", eventId: "w\(worker)-\(i)", timestampMillis: 0, body: body)
                store.appendEvents([event]) { _ in }
            }
        }
        let published = recorder.messages.withLock { $0 }
        for session in ["race-a", "race-b"] {
            let seqs = published.compactMap { message -> Int64? in
                if case .event(let id, let seq, _, _, _) = message, id == session { return seq }
                return nil
            }
            XCTAssertEqual(seqs, Array(1...4000), "\(session): every event once, in seq order")
        }
    }
}
