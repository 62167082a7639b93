import Foundation
import SBCore
@testable import SBStore
import SBTestSupport
import XCTest

/// The append script refreshes a session's lifetimes when the store asks (at most every
/// min(60 s, SESSION_TTL / 100)) and whenever it creates a key; in between the seq keeps its TTL.
extension GroupCommitTests {
    func testTheRefreshScheduleIsOnePercentOfTheLifetimeAtMostAMinute() {
        XCTAssertEqual(LifetimeRefreshSchedule(sessionTTLSeconds: 86_400).interval, 60_000_000_000)
        XCTAssertEqual(LifetimeRefreshSchedule(sessionTTLSeconds: 300).interval, 3_000_000_000)
        XCTAssertEqual(LifetimeRefreshSchedule(sessionTTLSeconds: 1).interval, 10_000_000)

        var schedule = LifetimeRefreshSchedule(sessionTTLSeconds: 100, capacity: 2)
        XCTAssertTrue(schedule.isDue("a", now: 5), "never refreshed by this store")
        schedule.confirm("a", sentAt: 5)
        XCTAssertFalse(schedule.isDue("a", now: 5 + 999_999_999))
        XCTAssertTrue(schedule.isDue("a", now: 5 + 1_000_000_000))
        schedule.confirm("b", sentAt: 6)
        XCTAssertEqual(schedule.count, 2)
        schedule.confirm("c", sentAt: 7)
        XCTAssertEqual(schedule.count, 1, "full: forgotten, which only means more refreshes")
        XCTAssertTrue(schedule.isDue("a", now: 8))
        XCTAssertFalse(schedule.isDue("c", now: 8))
    }

    private func ttl(_ redis: RedisTestServer, _ key: String) throws -> Int {
        let reply = try redis.command(["TTL", key])
        return try XCTUnwrap(Int(reply.trimmingCharacters(in: .whitespacesAndNewlines).dropFirst()), reply)
    }

    private func keysOf(_ session: String) -> [String] { ["gc:seq:\(session)", "gc:events:\(session)", "gc:times:\(session)", "gc:epoch:\(session)"] }

    private func plainEvent(_ session: String, _ id: String) -> NewEvent {
        NewEvent(sessionId: session, eventId: id, timestampMillis: 1, body: Array("{\"eventId\":\"\(id)\",\"sessionId\":\"\(session)\"}".utf8))
    }

    /// SESSION_TTL 100: the refresh interval is 1 s.
    func testLifetimesAreRefreshedWhenDueAndNewKeysGetThemAtOnce() throws {
        let (redis, loop, store) = try startStore(StoreSettings(sessionTTLSeconds: 100, historyLimit: 5))
        let keys = keysOf("lt")
        XCTAssertEqual(try append(loop, store, [plainEvent("lt", "e1")]).map(\.seq), [1])
        XCTAssertEqual(try keys.map { try ttl(redis, $0) }.map { $0 >= 99 }, [true, true, true, true])
        XCTAssertGreaterThan(try ttl(redis, keys[3]), 150, "the epoch outlives the seq by a minute")

        // Shortened behind the store's back; an append within the interval leaves them alone.
        for key in keys { _ = try redis.command(["EXPIRE", key, "50"]) }
        XCTAssertEqual(try append(loop, store, [plainEvent("lt", "e2")]).map(\.seq), [2])
        XCTAssertEqual(try keys.map { try ttl(redis, $0) }.map { $0 <= 50 && $0 > 0 }, [true, true, true, true],
                       "not due: the seq written with KEEPTTL, nothing else refreshed")
        XCTAssertTrue(try redis.command(["GET", keys[0]]).hasSuffix("\r\n2\r\n"))

        // A list that is gone gets its lifetime with the push that creates it, due or not.
        _ = try redis.command(["DEL", keys[2]])
        XCTAssertEqual(try append(loop, store, [plainEvent("lt", "e3")]).map(\.seq), [3])
        XCTAssertGreaterThanOrEqual(try ttl(redis, keys[2]), 99)
        XCTAssertLessThanOrEqual(try ttl(redis, keys[1]), 50)

        // Due again: all four get their full lifetimes, the epoch still a minute longer.
        Thread.sleep(forTimeInterval: 1.1)
        XCTAssertEqual(try append(loop, store, [plainEvent("lt", "e4")]).map(\.seq), [4])
        XCTAssertEqual(try keys.map { try ttl(redis, $0) }.map { $0 >= 99 }, [true, true, true, true])
        XCTAssertGreaterThan(try ttl(redis, keys[3]), 150)
    }

    /// A stream whose seq key is gone starts again with full lifetimes even when not due.
    func testANewStreamGetsItsLifetimesWhenNotDue() throws {
        let (redis, loop, store) = try startStore(StoreSettings(sessionTTLSeconds: 100, historyLimit: 5))
        let keys = keysOf("ns")
        XCTAssertEqual(try append(loop, store, [plainEvent("ns", "e1")]).map(\.seq), [1])
        for key in keys { _ = try redis.command(["DEL", key]) }
        XCTAssertEqual(try append(loop, store, [plainEvent("ns", "e2")]).map(\.seq), [1], "started again")
        XCTAssertEqual(try keys.map { try ttl(redis, $0) }.map { $0 >= 99 }, [true, true, true, true])
    }
}
