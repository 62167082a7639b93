import SBCore
import Synchronization
import XCTest
@testable import SBStore

/// The Store contract on MemoryStore, with an injected clock so expiry needs no sleeping.
final class MemoryStoreTests: XCTestCase {
    final class Clock: @unchecked Sendable {
        var millis: Int64 = 1_000_000
    }

    final class Recorder: BusListener, @unchecked Sendable {
        let messages = Locked<[BusMessage]>([])
        func receive(_ message: BusMessage) { messages.withLock { $0.append(message) } }
        func busResynchronized() {}
        var eventSeqs: [Int64?] {
            messages.withLock { $0.compactMap { if case .event(_, let seq, _, _, _) = $0 { return seq } else { return nil } } }
        }
    }

    let clock = Clock()
    var store: MemoryStore!
    let recorder = Recorder()

    override func setUp() {
        let clock = self.clock
        store = MemoryStore(settings: StoreSettings(sessionTTLSeconds: 10, queueTTLSeconds: 5, historyLimit: 3), clock: { clock.millis })
        store.setListener(recorder)
    }

    func sync<T>(_ call: (@escaping (Result<T, StoreError>) -> Void) -> Void) throws -> T {
        var out: Result<T, StoreError>?
        call { out = $0 }
        return try XCTUnwrap(out, "completion ran synchronously").get()
    }

    func event(_ session: String, _ id: String, ts: Int64 = 0) -> NewEvent {
        NewEvent(sessionId: session, eventId: id, timestampMillis: ts, body: Array("{\"eventId\":\"\(id)\",\"type\":\"t\"}".utf8))
    }

    func testAppendAssignsSeqStoresJSONAndPublishesInOrder() throws {
        let appended = try sync { store.appendEvents([event("a", "e1"), event("a", "e2"), event("b", "e3")], $0) }
        XCTAssertEqual(appended.map(\.seq), [1, 2, 1])
        let events = try sync { store.events(sessionId: "a", query: EventQuery(), $0) }
        XCTAssertEqual(String(decoding: events[0].json, as: UTF8.self), "{\"seq\":1,\"eventId\":\"e1\",\"type\":\"t\"}")
        XCTAssertEqual(recorder.eventSeqs, [1, 2, 1])
    }

    func testHistoryLimitAndQueries() throws {
        for i in 1...5 { _ = try sync { store.appendEvents([event("a", "e\(i)", ts: Int64(i) * 1000)], $0) } }
        let all = try sync { store.events(sessionId: "a", query: EventQuery(), $0) }
        XCTAssertEqual(all.map(\.seq), [3, 4, 5], "trimmed to the 3 newest")
        XCTAssertEqual(try sync { store.events(sessionId: "a", query: EventQuery(after: 3), $0) }.map(\.seq), [4, 5])
        XCTAssertEqual(try sync { store.events(sessionId: "a", query: EventQuery(after: 1), $0) }.map(\.seq), [3, 4, 5])
        XCTAssertEqual(try sync { store.events(sessionId: "a", query: EventQuery(sinceMillis: 4000), $0) }.map(\.seq), [4, 5])
        XCTAssertEqual(try sync { store.events(sessionId: "a", query: EventQuery(limit: 2), $0) }.map(\.seq), [3, 4])
        XCTAssertEqual(try sync { store.events(sessionId: "a", query: EventQuery(limit: 2, newest: true), $0) }.map(\.seq), [4, 5])
        XCTAssertEqual(try sync { store.events(sessionId: "none", query: EventQuery(), $0) }, [])
    }

    func testSessionsChainsAndDelete() throws {
        let session = Session(id: "s1", cwd: "/w", hostname: nil, platform: nil, user: nil, status: "pending", startedAt: "2026-11-24T00:00:00.000Z")
        try sync { store.createSession(session, $0) }
        try sync { store.addChain(StoredChain(id: "c1", sessionId: "s1", json: Array("{\"id\":\"c1\"}".utf8)), $0) }
        let listed = try sync { store.listSessions($0) }
        XCTAssertEqual(listed.map(\.chainsCount), [1])
        let updated = try sync { store.updateSession(id: "s1", SessionUpdate(status: "completed", endedAt: "x", updatedAt: "y"), $0) }
        XCTAssertEqual(updated?.status, "completed")
        XCTAssertNil(try sync { store.updateSession(id: "nope", SessionUpdate(updatedAt: "y"), $0) })
        _ = try sync { store.appendEvents([event("s1", "e")], $0) }
        XCTAssertTrue(try sync { store.deleteSession(id: "s1", $0) })
        XCTAssertFalse(try sync { store.deleteSession(id: "s1", $0) })
        XCTAssertNil(try sync { store.chain(id: "c1", $0) })
        XCTAssertEqual(try sync { store.events(sessionId: "s1", query: EventQuery(), $0) }, [])
    }

    func testExpiryAndSweep() throws {
        let session = Session(id: "s1", cwd: "/w", hostname: nil, platform: nil, user: nil, status: "pending", startedAt: "t")
        try sync { store.createSession(session, $0) }
        try sync { store.enqueue(.commands, sessionId: "s1", item: QueuedItem(json: Array("{\"id\":\"k1\"}".utf8)), $0) }
        _ = try sync { store.appendEvents([event("s1", "e")], $0) }
        clock.millis += 6000
        XCTAssertEqual(try sync { store.drain(.commands, sessionId: "s1", $0) }, [], "queue outlived QUEUE_TTL")
        XCTAssertFalse(try sync { store.acknowledgeCommand(id: "k1", ack: [], $0) })
        XCTAssertNotNil(try sync { store.session(id: "s1", $0) })
        clock.millis += 5000
        XCTAssertNil(try sync { store.session(id: "s1", $0) })
        XCTAssertEqual(try sync { store.listSessions($0) }.count, 0)
        XCTAssertEqual(try sync { store.events(sessionId: "s1", query: EventQuery(), $0) }, [])
        // A new event after expiry starts a fresh log.
        XCTAssertEqual(try sync { store.appendEvents([event("s1", "e2")], $0) }.map(\.seq), [1])
        clock.millis += 20_000
        XCTAssertEqual(store.sweepExpired(), 3, "the session, its stream and its command record were all that was left")
        XCTAssertEqual(store.sweepExpired(), 0)
    }

    func testDrainIsAtomicUnderRacingDrainers() throws {
        let total = 10_000
        let taken = Locked<[String]>([])
        let store = self.store!
        DispatchQueue.concurrentPerform(iterations: 3) { worker in
            if worker == 0 {
                for i in 0..<total {
                    store.enqueue(.commands, sessionId: "q", item: QueuedItem(json: Array("{\"id\":\"c\(i)\"}".utf8))) { _ in }
                }
            } else {
                for _ in 0..<5000 {
                    store.drain(.commands, sessionId: "q") { result in
                        let ids = ((try? result.get()) ?? []).compactMap { CommandID.extract(from: $0.json) }
                        taken.withLock { $0.append(contentsOf: ids) }
                    }
                }
            }
        }
        store.drain(.commands, sessionId: "q") { result in
            let ids = ((try? result.get()) ?? []).compactMap { CommandID.extract(from: $0.json) }
            taken.withLock { $0.append(contentsOf: ids) }
        }
        let ids = taken.withLock { $0 }
        XCTAssertEqual(ids.count, total, "every command drained")
        XCTAssertEqual(Set(ids).count, total, "no command drained twice")
    }

    func testAcknowledge() throws {
        try sync { store.enqueue(.commands, sessionId: "s", item: QueuedItem(json: Array("{\"id\":\"k9\",\"type\":\"pause\"}".utf8)), $0) }
        XCTAssertTrue(try sync { store.acknowledgeCommand(id: "k9", ack: Array("{}".utf8), $0) })
        XCTAssertFalse(try sync { store.acknowledgeCommand(id: "zz", ack: [], $0) })
    }
}
