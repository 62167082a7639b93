import Foundation
import Logging
import Synchronization
import XCTest
import SBEventLoop
import SBRedis
@testable import SBStore
import SBTestSupport
import SBCore

/// One contract, two stores: the same test bodies run against MemoryStore and against
/// RedisStore on a real redis-server, each driven from an event-loop thread as in production.
class StoreContract: XCTestCase {
    final class Box<T>: @unchecked Sendable { var value: T; init(_ value: T) { self.value = value } }

    var group: EventLoopGroup!
    var store: (any Store)!
    var settings: StoreSettings { StoreSettings(sessionTTLSeconds: 100, queueTTLSeconds: 50, historyLimit: 5, maxQueueLength: 3) }

    /// Subclasses create their store here (on the loop) and return when it is usable.
    func makeStore(loop: EventLoop) throws -> any Store { fatalError("abstract") }

    override func setUpWithError() throws {
        if type(of: self) == StoreContract.self { throw XCTSkip("abstract contract") }
        group = try EventLoopGroup(count: 1)
        group.start()
        store = try makeStore(loop: group.loops[0])
    }

    /// Each `call`'s completion count, checked once more at the end of the test, after a quiet
    /// window and after the loop stopped (nothing can arrive after that): a late second
    /// completion (a timer, a reconnect) is caught too, not only one already queued.
    private var completionCounts: [Box<Int>] = []
    /// How long the end of a test waits for a late second completion (once per test, not per call).
    static let lateCompletionWindow: TimeInterval = 0.1

    override func tearDown() {
        if group != nil, !completionCounts.isEmpty {
            Thread.sleep(forTimeInterval: Self.lateCompletionWindow)  // a window for absence, not synchronisation
            drainLoop()
        }
        group?.stopAll()
        group?.waitUntilStopped()
        for (index, count) in completionCounts.enumerated() where count.value != 1 {
            XCTFail("store call \(index) completed \(count.value) times by the end of the test")
        }
        completionCounts = []
    }

    /// Returns once the loop ran everything queued on it before this call: a completion the
    /// store already queued (a second one, say) has run by then.
    func drainLoop() {
        let ran = DispatchSemaphore(value: 0)
        group.loops[0].execute { ran.signal() }
        XCTAssertEqual(ran.wait(timeout: .now() + 10), .success, "the loop is running")
    }

    /// Runs one store call on the loop and waits for its single completion.
    func call<T>(_ operation: @escaping (any Store, @escaping (Result<T, StoreError>) -> Void) -> Void) throws -> T {
        let result = Box<Result<T, StoreError>?>(nil)
        let calls = Box(0)
        let done = DispatchSemaphore(value: 0)
        let store = Box(self.store!)
        let operation = Box(operation)
        group.loops[0].execute {
            operation.value(store.value) { outcome in
                calls.value += 1
                result.value = outcome
                done.signal()
            }
        }
        completionCounts.append(calls)
        XCTAssertEqual(done.wait(timeout: .now() + 10), .success, "completion ran")
        // A second completion would come from the same callback or from work it queued on the
        // loop: two round trips through the loop let that run before the count is read.
        drainLoop()
        drainLoop()
        XCTAssertEqual(calls.value, 1, "completion ran exactly once")
        return try XCTUnwrap(result.value).get()
    }

    func event(_ session: String, _ id: String, ts: String = "2026-11-24T12:00:00Z") -> NewEvent {
        NewEvent(sessionId: session, eventId: id, timestampMillis: ISO8601.parse(ts) ?? 0,
                 body: Array("{\"eventId\":\"\(id)\",\"sessionId\":\"\(session)\",\"timestamp\":\"\(ts)\"}".utf8))
    }

    func testAppendAssignsDenseSeqAndTrims() throws {
        let first = try call { $0.appendEvents([self.event("c-a", "e1"), self.event("c-a", "e2"), self.event("c-b", "e3")], $1) }
        XCTAssertEqual(first.map(\.seq), [1, 2, 1])
        for i in 4...8 { _ = try call { $0.appendEvents([self.event("c-a", "e\(i)")], $1) } }
        let events: [StoredEvent] = try call { $0.events(sessionId: "c-a", query: EventQuery(), $1) }
        XCTAssertEqual(events.map(\.seq), [3, 4, 5, 6, 7], "trimmed to HISTORY_LIMIT, oldest first")
        XCTAssertTrue(String(decoding: events[0].json, as: UTF8.self).hasPrefix("{\"seq\":3,\"eventId\":\"e4\""))
        let after: [StoredEvent] = try call { $0.events(sessionId: "c-a", query: EventQuery(after: 5), $1) }
        XCTAssertEqual(after.map(\.seq), [6, 7])
        let newest: [StoredEvent] = try call { $0.events(sessionId: "c-a", query: EventQuery(limit: 2, newest: true), $1) }
        XCTAssertEqual(newest.map(\.seq), [6, 7])
    }

    func testSessionsChainsListingAndDelete() throws {
        let session = Session(id: "c-s1", cwd: "/w", hostname: "h", platform: "linux", user: "u", status: "pending",
                              startedAt: "2026-11-24T12:00:00.000Z")
        try call { $0.createSession(session, $1) }
        try call { $0.addChain(StoredChain(id: "c-ch1", sessionId: "c-s1", json: Array("{\"id\":\"c-ch1\",\"sessionId\":\"c-s1\"}".utf8)), $1) }
        let listed: [SessionSummary] = try call { $0.listSessions($1) }
        XCTAssertEqual(listed.map(\.session.id), ["c-s1"])
        XCTAssertEqual(listed.first?.chainsCount, 1)
        let loaded: Session? = try call { $0.session(id: "c-s1", $1) }
        XCTAssertEqual(loaded, session)
        let updated: Session? = try call { $0.updateSession(id: "c-s1", SessionUpdate(status: "completed", endedAt: "t", updatedAt: "t"), $1) }
        XCTAssertEqual(updated?.status, "completed")
        let missing: Session? = try call { $0.updateSession(id: "nope", SessionUpdate(updatedAt: "t"), $1) }
        XCTAssertNil(missing)
        let chains: [StoredChain] = try call { $0.chains(sessionId: "c-s1", $1) }
        XCTAssertEqual(chains.map(\.id), ["c-ch1"])
        _ = try call { $0.appendEvents([self.event("c-s1", "x")], $1) }
        XCTAssertTrue(try call { $0.deleteSession(id: "c-s1", $1) })
        XCTAssertFalse(try call { $0.deleteSession(id: "c-s1", $1) })
        let gone: StoredChain? = try call { $0.chain(id: "c-ch1", $1) }
        XCTAssertNil(gone)
        let noEvents: [StoredEvent] = try call { $0.events(sessionId: "c-s1", query: EventQuery(), $1) }
        XCTAssertEqual(noEvents, [])
        let none: [SessionSummary] = try call { $0.listSessions($1) }
        XCTAssertEqual(none.count, 0)
    }

    /// DELETE tells the truth: true when it removed anything of the session (here only events,
    /// no record), false when there was nothing, and then nothing changed (the epoch stays).
    func testDeleteCountsEverythingOfTheSessionAndChangesNothingWhenThereIsNothing() throws {
        _ = try call { $0.appendEvents([self.event("c-d1", "x1"), self.event("c-d1", "x2")], $1) }
        let before: StreamPage = try call { $0.readStream(sessionId: "c-d1", after: 0, limit: PageLimit(count: 10, bytes: 1 << 20), $1) }
        XCTAssertEqual(before.lastSeq, 2)
        XCTAssertTrue(try call { $0.deleteSession(id: "c-d1", $1) }, "events alone are something to delete")
        let emptied: StreamPage = try call { $0.readStream(sessionId: "c-d1", after: 0, limit: PageLimit(count: 10, bytes: 1 << 20), $1) }
        XCTAssertEqual(emptied.events, [])
        XCTAssertNotEqual(emptied.epoch, before.epoch, "a delete starts a new epoch")
        XCTAssertFalse(try call { $0.deleteSession(id: "c-d1", $1) })
        let after: StreamPage = try call { $0.readStream(sessionId: "c-d1", after: 0, limit: PageLimit(count: 10, bytes: 1 << 20), $1) }
        XCTAssertEqual(after.epoch, emptied.epoch, "a delete of nothing changes nothing")
        XCTAssertFalse(try call { $0.deleteSession(id: "c-never", $1) })
    }

    func testUpdatesMergeFieldsAndNeverResurrectADeletedSession() throws {
        let session = Session(id: "c-u1", cwd: "/w", hostname: nil, platform: nil, user: nil, status: "pending",
                              startedAt: "2026-11-24T12:00:00.000Z")
        try call { $0.createSession(session, $1) }
        _ = try call { $0.updateSession(id: "c-u1", SessionUpdate(status: "running", updatedAt: "t1"), $1) }
        let merged: Session? = try call { $0.updateSession(id: "c-u1", SessionUpdate(summary: "half way", updatedAt: "t2"), $1) }
        XCTAssertEqual(merged?.status, "running", "an update of one field keeps the others")
        XCTAssertEqual(merged?.summary, "half way")
        XCTAssertEqual(merged?.cwd, "/w")
        let reread: Session? = try call { $0.session(id: "c-u1", $1) }
        XCTAssertEqual(reread, merged)
        XCTAssertTrue(try call { $0.deleteSession(id: "c-u1", $1) })
        let after: Session? = try call { $0.updateSession(id: "c-u1", SessionUpdate(status: "completed", updatedAt: "t3"), $1) }
        XCTAssertNil(after, "updating a deleted session does not bring it back")
        let gone: Session? = try call { $0.session(id: "c-u1", $1) }
        XCTAssertNil(gone)
    }

    func testEventWindowsAfterTrimming() throws {
        // History limit 5: after 12 appends seqs 8...12 remain.
        for i in 1...12 {
            _ = try call { $0.appendEvents([self.event("c-w", "e\(i)", ts: "2026-11-24T12:00:\(String(format: "%02d", i))Z")], $1) }
        }
        func seqs(_ query: EventQuery) throws -> [Int64] {
            let events: [StoredEvent] = try call { $0.events(sessionId: "c-w", query: query, $1) }
            return events.map(\.seq)
        }
        XCTAssertEqual(try seqs(EventQuery()), [8, 9, 10, 11, 12])
        XCTAssertEqual(try seqs(EventQuery(after: 2)), [8, 9, 10, 11, 12], "after below the oldest kept")
        XCTAssertEqual(try seqs(EventQuery(after: 9, limit: 2)), [10, 11])
        XCTAssertEqual(try seqs(EventQuery(after: 12)), [])
        XCTAssertEqual(try seqs(EventQuery(after: 100)), [])
        XCTAssertEqual(try seqs(EventQuery(limit: 3, newest: true)), [10, 11, 12])
        XCTAssertEqual(try seqs(EventQuery(after: 10, limit: 5, newest: true)), [11, 12])
        let since = try XCTUnwrap(ISO8601.parse("2026-11-24T12:00:10Z"))
        XCTAssertEqual(try seqs(EventQuery(sinceMillis: since)), [10, 11, 12], "since compares each event's timestamp")
        XCTAssertEqual(try seqs(EventQuery(sinceMillis: since, limit: 1)), [10])
        let empty: [StoredEvent] = try call { $0.events(sessionId: "c-never", query: EventQuery(), $1) }
        XCTAssertEqual(empty, [])
    }

    func testQueuesDrainAtomicallyAndAck() throws {
        for i in 0..<3 {
            try call { $0.enqueue(.commands, sessionId: "c-q", item: QueuedItem(json: Array("{\"id\":\"cmd\(i)\",\"type\":\"pause\"}".utf8)), $1) }
        }
        try call { $0.enqueue(.input, sessionId: "c-q", item: QueuedItem(json: Array("{\"input\":1}".utf8)), $1) }
        let drained: [QueuedItem] = try call { $0.drain(.commands, sessionId: "c-q", $1) }
        XCTAssertEqual(drained.compactMap { CommandID.extract(from: $0.json) }, ["cmd0", "cmd1", "cmd2"])
        let again: [QueuedItem] = try call { $0.drain(.commands, sessionId: "c-q", $1) }
        XCTAssertEqual(again, [])
        let inputs: [QueuedItem] = try call { $0.drain(.input, sessionId: "c-q", $1) }
        XCTAssertEqual(inputs.count, 1)
        XCTAssertTrue(try call { $0.acknowledgeCommand(id: "cmd1", ack: Array("{}".utf8), $1) })
        XCTAssertFalse(try call { $0.acknowledgeCommand(id: "unknown", ack: Array("{}".utf8), $1) })
    }
}

final class MemoryStoreContractTests: StoreContract {
    override func makeStore(loop: EventLoop) throws -> any Store {
        MemoryStore(settings: settings)
    }

    /// Memory completions are synchronous: the completion has run when the call returns.
    func testCompletionsAreSynchronous() throws {
        let ran = Box(false)
        let store = Box(self.store!)
        let done = DispatchSemaphore(value: 0)
        group.loops[0].execute {
            store.value.drain(.input, sessionId: "sync") { _ in ran.value = true }
            XCTAssertTrue(ran.value)
            done.signal()
        }
        XCTAssertEqual(done.wait(timeout: .now() + 5), .success)
    }
}

final class RedisStoreContractTests: StoreContract {
    var redis: RedisTestServer!

    /// XCTest keeps test-case instances alive until the process ends, so the server is stopped
    /// here, by PID, rather than left to `deinit`.
    override func tearDown() {
        super.tearDown()
        redis?.kill(signal: SIGKILL)
        redis = nil
    }

    override func makeStore(loop: EventLoop) throws -> any Store {
        try XCTSkipUnless(RedisTestServer.isAvailable, "redis-server not installed")
        redis = try RedisTestServer(extraArguments: ["--requirepass", "pw"])
        // Password and a non-zero db from the URL are honoured (AUTH and SELECT on connect).
        let url = try RedisURL(parsing: "redis://:pw@127.0.0.1:\(redis.port)/3")
        let store = RedisStore(loop: loop, url: url, prefix: "ct:", settings: settings, logger: Logger(label: "test"))
        loop.execute { store.start() }
        XCTAssertTrue(waitFor(timeout: 10) { store.isAvailable }, "connected, authenticated, scripts loaded")
        return store
    }

    func testKeysLiveInTheSelectedDatabaseWithTTLs() throws {
        _ = try call { $0.appendEvents([self.event("c-ttl", "e")], $1) }
        let ttl = try redis.command(["TTL", "ct:events:c-ttl"], password: "pw", db: 3)
        XCTAssertTrue(ttl.hasSuffix(":100\r\n") || ttl.hasSuffix(":99\r\n"), "TTL set in db 3: \(ttl)")
        let inDb0 = try redis.command(["EXISTS", "ct:events:c-ttl"], password: "pw")
        XCTAssertTrue(inDb0.hasSuffix(":0\r\n"), "nothing in db 0: \(inDb0)")
    }

    func testUnavailableWhileRedisIsDownNeverSucceeds() throws {
        redis.kill(signal: SIGKILL)
        XCTAssertTrue(waitFor(timeout: 5) { !self.store.isAvailable })
        XCTAssertThrowsError(try call { (store: any Store, done: @escaping (Result<[AppendedEvent], StoreError>) -> Void) in
            store.appendEvents([self.event("c-down", "e")], done)
        })
        try redis.start()
        XCTAssertTrue(waitFor(timeout: 10) { self.store.isAvailable }, "reconnects by itself")
        XCTAssertEqual(try call { $0.appendEvents([self.event("c-down", "e2")], $1) }.map(\.seq), [1])
    }
}

/// The whole contract against two shards: sessions spread by jump hash, acks and chain reads
/// asked of both, listings merged.
final class ShardedRedisStoreContractTests: StoreContract {
    var shards: [RedisTestServer] = []

    override func tearDown() {
        super.tearDown()
        for shard in shards { shard.kill(signal: SIGKILL) }
        shards = []
    }

    override func makeStore(loop: EventLoop) throws -> any Store {
        try XCTSkipUnless(RedisTestServer.isAvailable, "redis-server not installed")
        shards = [try RedisTestServer(), try RedisTestServer()]
        let stores = try shards.map {
            RedisStore(loop: loop, url: try RedisURL(parsing: $0.url), prefix: "ct:", settings: settings, logger: Logger(label: "test"))
        }
        for store in stores { loop.execute { store.start() } }
        XCTAssertTrue(waitFor(timeout: 10) { stores.allSatisfy(\.isAvailable) })
        return ShardedRedisStore(shards: stores)
    }

    func testSessionsSpreadOverBothShardsAndADownShardFailsOnlyItsOwn() throws {
        let router = ShardRouter(count: 2)
        let ids = (0..<40).map { "spread-\($0)" }
        for id in ids { _ = try call { $0.appendEvents([self.event(id, "e")], $1) } }
        for (index, shard) in shards.enumerated() {
            let mine = ids.filter { router.shard(of: $0) == index }
            XCTAssertFalse(mine.isEmpty)
            for id in mine { XCTAssertTrue(try shard.command(["EXISTS", "ct:events:\(id)"]).hasSuffix(":1\r\n"), "\(id) on shard \(index)") }
        }
        shards[1].kill(signal: SIGKILL)
        XCTAssertTrue(waitFor(timeout: 5) { (self.store as! ShardedRedisStore).shards[1].isAvailable == false })
        XCTAssertTrue(store.isAvailable, "the other shard still serves")
        for id in ids {
            let result = Result { try call { $0.appendEvents([self.event(id, "again")], $1) } }
            if router.shard(of: id) == 1 {
                XCTAssertThrowsError(try result.get(), "\(id) is on the down shard")
            } else {
                XCTAssertEqual(try result.get().map(\.seq), [2], "\(id) is untouched")
            }
        }
        XCTAssertThrowsError(try call { $0.listSessions($1) }, "an incomplete listing is refused")
        XCTAssertThrowsError(try call { $0.acknowledgeCommand(id: "unknown", ack: [], $1) }, "may be on the down shard: not a 404")
    }
}

/// The contract with REDIS_MIN_REPLICAS=1 against a master that has a replica: every write
/// path still behaves, appends wait for the replica and are published after it confirmed.
final class ReplicatedRedisStoreContractTests: StoreContract {
    var master: RedisTestServer!
    var replica: RedisTestServer!

    override func tearDown() {
        super.tearDown()
        replica?.kill(signal: SIGKILL)
        master?.kill(signal: SIGKILL)
        replica = nil
        master = nil
    }

    override func makeStore(loop: EventLoop) throws -> any Store {
        try XCTSkipUnless(RedisTestServer.isAvailable, "redis-server not installed")
        // No 5 s wait for more replicas before a full sync (Redis 7's default diskless delay).
        master = try RedisTestServer(extraArguments: ["--repl-diskless-sync-delay", "0"])
        replica = try RedisTestServer(extraArguments: ["--replicaof", "127.0.0.1", String(master.port)])
        XCTAssertTrue(waitFor(timeout: 10) { ((try? self.replica.command(["INFO", "replication"])) ?? "").contains("master_link_status:up") })
        let store = RedisStore(loop: loop, url: try RedisURL(parsing: master.url), prefix: "ct:", settings: settings,
                               logger: Logger(label: "test"), replicas: ReplicaAcknowledgement(minReplicas: 1, timeoutMilliseconds: 3000))
        loop.execute { store.start() }
        XCTAssertTrue(waitFor(timeout: 10) { store.isAvailable })
        return store
    }

    func testAnAcknowledgedAppendIsOnTheReplica() throws {
        _ = try call { $0.appendEvents([self.event("r-1", "e1"), self.event("r-2", "e2")], $1) }
        XCTAssertTrue(try replica.command(["LLEN", "ct:events:r-1"]).hasSuffix(":1\r\n"))
        XCTAssertTrue(try replica.command(["LLEN", "ct:events:r-2"]).hasSuffix(":1\r\n"))
        replica.kill(signal: SIGKILL)
        XCTAssertThrowsError(try call { $0.appendEvents([self.event("r-1", "e3")], $1) }, "no replica: 503, not 2xx")
    }
}
