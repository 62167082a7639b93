import Dispatch
import SBCore
import XCTest
@testable import SBStore

/// MEMORY_STORE_MAX_BYTES: what is counted, who is evicted and in which order, what is told,
/// and the refusal with eviction off — on a MemoryStore with an injected clock.
final class MemoryBudgetTests: XCTestCase {
    final class Clock: @unchecked Sendable {
        var millis: Int64 = 1_000_000
    }

    final class Listener: BusListener, @unchecked Sendable {
        let messages = Locked<[BusMessage]>([])
        let watched = Locked<Set<String>>([])
        let evictions = Locked<(sessions: Int, keys: Int)>((0, 0))
        func receive(_ message: BusMessage) { messages.withLock { $0.append(message) } }
        func busResynchronized() {}
        func hasLocalSubscriber(_ sessionId: String) -> Bool { watched.withLock { $0.contains(sessionId) } }
        func memoryStoreEvicted(sessions: Int, idempotencyKeys: Int) {
            evictions.withLock { $0 = ($0.sessions + sessions, $0.keys + idempotencyKeys) }
        }
        var resets: [String] {
            messages.withLock { $0.compactMap { if case .reset(let id, _) = $0 { return id } else { return nil } } }
        }
    }

    let clock = Clock()
    let listener = Listener()

    func makeStore(maxBytes: Int, evicts: Bool = true) -> MemoryStore {
        let clock = self.clock
        let store = MemoryStore(settings: StoreSettings(sessionTTLSeconds: 10, queueTTLSeconds: 5, historyLimit: 100, idempotencyTTLSeconds: 5),
                                budget: MemoryBudget(maxBytes: maxBytes, evicts: evicts), clock: { clock.millis })
        store.setListener(listener)
        return store
    }

    func sync<T>(_ call: (@escaping (Result<T, StoreError>) -> Void) -> Void) -> Result<T, StoreError> {
        var out: Result<T, StoreError>?
        call { out = $0 }
        return out!
    }

    /// One ~1 KB event in `session`; 201 or the refusal.
    @discardableResult
    func post(_ store: MemoryStore, _ session: String, key: String? = nil) -> Result<[AppendedEvent], StoreError> {
        clock.millis += 1  // every write at its own time, so the order is unambiguous
        let body = Array("{\"eventId\":\"e\",\"type\":\"t\",\"pad\":\"\(String(repeating: "x", count: 1000))\"}".utf8)
        return sync { store.appendEvents([NewEvent(sessionId: session, eventId: "e", timestampMillis: 0, body: body, idempotencyKey: key)], $0) }
    }

    /// What one `post` to a new session counts: budgets below are whole numbers of these.
    lazy var perSession: Int = {
        let store = makeStore(maxBytes: .max)
        post(store, "measure")
        return store.countedBytes
    }()

    func eventCount(_ store: MemoryStore, _ session: String) -> Int {
        (try? sync { store.events(sessionId: session, query: EventQuery(), $0) }.get())?.count ?? -1
    }

    // MARK: The eviction order

    func testRecencyListKeepsWriteOrderAndReusesSlots() {
        var list = RecencyList()
        list.touch("a", now: 1)
        list.touch("b", now: 2)
        list.touch("c", now: 3)
        list.touch("a", now: 4)
        XCTAssertEqual(list.keys, ["b", "c", "a"])
        XCTAssertEqual(list.oldest?.key, "b")
        XCTAssertEqual(list.oldest?.writtenAt, 2)
        list.insertIfAbsent("c", now: 9)
        XCTAssertEqual(list.keys, ["b", "c", "a"], "insertIfAbsent does not move a present key")
        list.remove("c")
        list.remove("nope")
        XCTAssertEqual(list.keys, ["b", "a"])
        list.touch("d", now: 5)
        XCTAssertEqual(list.keys, ["b", "a", "d"])
        XCTAssertEqual(list.count, 3)
        list.remove("b")
        list.remove("a")
        list.remove("d")
        XCTAssertNil(list.oldest)
        XCTAssertEqual(list.keys, [])
        list.touch("e", now: 6)
        XCTAssertEqual(list.keys, ["e"])
    }

    // MARK: Counting

    func testEverythingCountedIsUncountedWhenItExpires() throws {
        let store = makeStore(maxBytes: .max)
        XCTAssertEqual(store.countedBytes, 0)
        let session = Session(id: "a-session-with-a-long-id", cwd: "/work/somewhere/long", hostname: "h", platform: nil, user: nil,
                              status: "pending", startedAt: "2026-12-07T00:00:00.000Z")
        _ = sync { store.createSession(session, $0) }
        post(store, session.id, key: "k1")
        post(store, session.id, key: "k2")
        _ = sync { store.updateSession(id: session.id, SessionUpdate(status: "running", summary: String(repeating: "s", count: 100), updatedAt: "now"), $0) }
        _ = sync { store.addChain(StoredChain(id: "chain-1", sessionId: session.id, json: Array(repeating: 0x20, count: 300)), $0) }
        _ = sync { store.enqueue(.commands, sessionId: session.id, item: QueuedItem(json: Array("{\"id\":\"cmd-1\"}".utf8)), $0) }
        _ = sync { store.enqueue(.input, sessionId: session.id, item: QueuedItem(json: Array(repeating: 0x20, count: 500)), $0) }
        _ = sync { store.acknowledgeCommand(id: "cmd-1", ack: Array(repeating: 0x20, count: 200), $0) }
        _ = sync { store.readStream(sessionId: "only-read", after: 0, limit: PageLimit(count: 10, bytes: 1000), $0) }
        let counted = store.countedBytes
        // The stored bytes themselves: 2 × ~1 KB events, 300 + 500 + 200 bytes of JSON, strings.
        XCTAssertGreaterThan(counted, 3000)
        XCTAssertLessThan(counted, 10_000)
        XCTAssertEqual(counted, store.shards.reduce(0) { $0 + $1.withLock { $0.bytes } }, "the total is the sum of the shards")

        // A drain gives its items' bytes back at once.
        _ = sync { store.drain(.input, sessionId: session.id, $0) }
        XCTAssertLessThan(store.countedBytes, counted - 500)

        clock.millis += 60_000
        store.sweepExpired()
        XCTAssertEqual(store.countedBytes, 0, "everything expired: nothing may stay counted")
        XCTAssertEqual(store.shards.reduce(0) { $0 + $1.withLock { $0.recency.count } }, 0, "nor kept in the eviction order")
    }

    func testHistoryTrimIsUncounted() throws {
        let store = makeStore(maxBytes: .max)
        for _ in 0..<200 { post(store, "s") }
        let full = store.countedBytes  // seqs 101...200: the same digits as 201...300
        for _ in 0..<100 { post(store, "s") }
        XCTAssertEqual(store.countedBytes, full, "HISTORY_LIMIT 100: the 100 dropped events are no longer counted")
    }

    // MARK: Eviction

    func testLeastRecentlyWrittenSessionsAreEvictedWholeAndTold() throws {
        let store = makeStore(maxBytes: 5 * perSession + 100)
        post(store, "a")
        _ = sync { store.addChain(StoredChain(id: "chain-of-a", sessionId: "a", json: Array("{}".utf8)), $0) }
        _ = sync { store.enqueue(.input, sessionId: "a", item: QueuedItem(json: Array("{}".utf8)), $0) }
        post(store, "b")
        post(store, "c")
        post(store, "a")  // a is now the most recently written; b the least
        XCTAssertEqual(listener.resets, [])
        post(store, "d")
        post(store, "e")
        XCTAssertLessThanOrEqual(store.countedBytes, 5 * perSession + 100)
        XCTAssertEqual(listener.resets.first, "b", "b was the least recently written")
        XCTAssertEqual(eventCount(store, "b"), 0)
        XCTAssertEqual(eventCount(store, "e"), 1, "the write that needed the room is stored")

        // Keep writing: every session goes in write order, a last of a, c.
        for name in ["f", "g", "h", "i", "j"] { post(store, name) }
        let order = listener.resets
        XCTAssertEqual(Array(order.prefix(3)), ["b", "c", "a"])
        XCTAssertEqual(eventCount(store, "a"), 0)
        XCTAssertNil(try sync { store.chain(id: "chain-of-a", $0) }.get(), "its chains go with it")
        XCTAssertEqual(try sync { store.drain(.input, sessionId: "a", $0) }.get().count, 0, "and its queues")
        XCTAssertEqual(listener.evictions.withLock { $0.sessions }, order.count)
        XCTAssertLessThanOrEqual(store.countedBytes, 5 * perSession + 100)
        XCTAssertEqual(eventCount(store, "j"), 1)
    }

    func testSessionWithLocalSubscriberIsNeverEvicted() throws {
        let store = makeStore(maxBytes: 4 * perSession + 100)
        listener.watched.withLock { $0 = ["watched"] }
        post(store, "watched")
        for i in 0..<20 { post(store, "filler-\(i)") }
        XCTAssertFalse(listener.resets.contains("watched"))
        XCTAssertEqual(eventCount(store, "watched"), 1)
        XCTAssertTrue(listener.resets.contains("filler-0"))

        // When every other session is watched there is nothing to evict: the write is refused.
        listener.watched.withLock { $0 = ["watched", "filler-17", "filler-18", "filler-19"] }
        let before = store.countedBytes
        guard case .failure(.outOfMemory(let reason)) = post(store, "new") else { return XCTFail("expected a refusal") }
        XCTAssertTrue(reason.contains("live subscriber"), reason)
        XCTAssertEqual(eventCount(store, "new"), 0)
        XCTAssertEqual(store.countedBytes, before)
        // Once a subscriber leaves, its session can go.
        listener.watched.withLock { $0.remove("filler-17") }
        guard case .success = post(store, "new") else { return XCTFail("expected room") }
        XCTAssertEqual(eventCount(store, "filler-17"), 0)
    }

    func testWithEvictionOffWritesAreRefusedAndNothingChanges() throws {
        let store = makeStore(maxBytes: 3 * perSession + 100, evicts: false)
        post(store, "a")
        post(store, "b")
        post(store, "c")
        let before = store.countedBytes
        guard case .failure(.outOfMemory(let reason)) = post(store, "a") else { return XCTFail("expected a refusal") }
        XCTAssertTrue(reason.contains("MEMORY_STORE_EVICTION=off"), reason)
        XCTAssertEqual(store.countedBytes, before)
        XCTAssertEqual(eventCount(store, "a"), 1, "the refused event is not stored")
        for (kind, result) in [
            ("session", sync { store.createSession(Session(id: "n", cwd: String(repeating: "c", count: 2000), hostname: nil, platform: nil, user: nil, status: "p", startedAt: "t"), $0) }.map { _ in 0 }),
            ("chain", sync { store.addChain(StoredChain(id: "ch", sessionId: "a", json: Array(repeating: 0x20, count: 2000)), $0) }.map { _ in 0 }),
            ("queue", sync { store.enqueue(.input, sessionId: "a", item: QueuedItem(json: Array(repeating: 0x20, count: 2000)), $0) }.map { _ in 0 }),
        ] {
            guard case .failure(.outOfMemory) = result else { return XCTFail("\(kind): expected a refusal, got \(result)") }
        }
        XCTAssertEqual(store.countedBytes, before, "nothing of a refused write is kept")
        XCTAssertEqual(listener.resets, [], "nothing evicted")
        // Deleting makes room (a deleted session keeps only its new, empty stream).
        _ = sync { store.deleteSession(id: "b", $0) }
        _ = sync { store.deleteSession(id: "c", $0) }
        guard case .success = post(store, "a") else { return XCTFail("expected room after DELETE") }
    }

    func testWriteLargerThanTheWholeBudgetIsRefusedWithoutEvicting() {
        let store = makeStore(maxBytes: 3000)
        post(store, "a")
        let body = Array("{\"eventId\":\"e\",\"pad\":\"\(String(repeating: "x", count: 5000))\"}".utf8)
        let result = sync { store.appendEvents([NewEvent(sessionId: "big", eventId: "e", timestampMillis: 0, body: body)], $0) }
        guard case .failure(.outOfMemory(let reason)) = result else { return XCTFail("expected a refusal") }
        XCTAssertTrue(reason.contains("this write alone"), reason)
        XCTAssertEqual(eventCount(store, "a"), 1)
    }

    func testOldIdempotencyKeysGoBeforeNewerSessions() {
        let store = makeStore(maxBytes: 6 * perSession)
        // One session, many keys: the keys are the oldest writes once the session is written again.
        for i in 0..<4 { post(store, "keyed", key: "k\(i)") }
        post(store, "other")
        post(store, "keyed")
        for i in 0..<3 { post(store, "more-\(i)") }
        XCTAssertGreaterThan(listener.evictions.withLock { $0.keys }, 0)
        XCTAssertLessThanOrEqual(store.countedBytes, 6 * perSession)
    }

    /// Writers on four threads at the budget, a subscriber coming and going: the total stays the
    /// sum of the shards, within one in-flight write per thread of the budget, and the watched
    /// session survives.
    func testConcurrentWritersAtTheBudgetKeepTheCountExact() {
        let store = MemoryStore(settings: StoreSettings(historyLimit: 100), budget: MemoryBudget(maxBytes: 50 * perSession, evicts: true))
        store.setListener(listener)
        listener.watched.withLock { $0 = ["watched"] }
        let body = Array("{\"eventId\":\"e\",\"pad\":\"\(String(repeating: "x", count: 1000))\"}".utf8)
        store.appendEvents([NewEvent(sessionId: "watched", eventId: "e", timestampMillis: 0, body: body)]) { _ in }
        let listener = self.listener
        DispatchQueue.concurrentPerform(iterations: 5) { thread in
            for i in 0..<2000 {
                if thread == 4 {
                    listener.watched.withLock { if i % 2 == 0 { $0.insert("toggled") } else { $0.remove("toggled") } }
                    store.appendEvents([NewEvent(sessionId: "toggled", eventId: "e", timestampMillis: 0, body: body)]) { _ in }
                } else {
                    store.appendEvents([NewEvent(sessionId: "t\(thread)-\(i % 300)", eventId: "e", timestampMillis: 0, body: body)]) { _ in }
                }
            }
        }
        XCTAssertEqual(store.countedBytes, store.shards.reduce(0) { $0 + $1.withLock { $0.bytes } })
        XCTAssertLessThanOrEqual(store.countedBytes, 50 * perSession + 4 * 2 * perSession)
        XCTAssertGreaterThan(listener.evictions.withLock { $0.sessions }, 0)
        XCTAssertFalse(listener.resets.contains("watched"))
        XCTAssertEqual(eventCount(store, "watched"), 1)
    }

    func testExpiryQueueStaysBoundedUnderSteadyEviction() {
        let store = makeStore(maxBytes: 20 * perSession + 100)
        for i in 0..<20_000 { post(store, "s\(i)") }
        XCTAssertGreaterThan(listener.evictions.withLock { $0.sessions }, 19_000)
        let queued = store.shards.reduce(0) { $0 + $1.withLock { $0.expiryQueue.count } }
        XCTAssertLessThan(queued, MemoryStore.shardCount * (2 * 20 + 1024 + 1), "stale expiry entries are compacted away")
        let kept = 20_000 - listener.evictions.withLock { $0.sessions }
        XCTAssertEqual(store.shards.reduce(0) { $0 + $1.withLock { $0.recency.count } }, kept, "only the sessions kept are in the order")
        XCTAssertEqual(eventCount(store, "s19999"), 1)
    }
}
