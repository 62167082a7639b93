@testable import SBRedis
import XCTest

/// Redis Cluster's pieces that decide, without sockets: the slot function, the slot map as
/// Redis describes it, and what a command does with each answer.
final class ClusterSlotTests: XCTestCase {
    func testSlotsMatchRedisOwnKeyslot() {
        // Expected values from `redis-cli CLUSTER KEYSLOT` (Redis 7.0.15).
        let rows: [(String, Int)] = [
            ("foo", 12182),
            ("123456789", 12739),  // CRC16/XMODEM check value 0x31C3
            ("{user1000}.following", 3443),
            ("{user1000}.followers", 3443),
            ("afw:{s1}:events", 15224),
            ("s1", 15224),
            ("{}x", ClusterSlot.of("{}x")),  // an empty tag hashes the whole key
            ("a{b", ClusterSlot.of("a{b")),
        ]
        for (key, slot) in rows { XCTAssertEqual(ClusterSlot.of(key), slot, key) }
        XCTAssertNotEqual(ClusterSlot.of("{}x"), ClusterSlot.of("x"), "an empty tag is not a tag")
        XCTAssertEqual(ClusterSlot.of("afw:{s1}:seq"), ClusterSlot.of("afw:{s1}:idem:{other}"), "only the first tag counts")
    }
}

final class ClusterSlotMapTests: XCTestCase {
    private func s(_ text: String) -> RedisReply { .string(Array(text.utf8)) }

    func testShardsReplyAssignsEachRangeToItsOnlineMaster() throws {
        let node = { (port: Int64, tls: Int64?, role: String, health: String) -> RedisReply in
            var fields: [RedisReply] = [self.s("id"), self.s("x"), self.s("port"), .integer(port)]
            if let tls { fields += [self.s("tls-port"), .integer(tls)] }
            fields += [self.s("ip"), self.s("127.0.0.1"), self.s("role"), self.s(role), self.s("health"), self.s(health)]
            return .array(fields)
        }
        let reply = RedisReply.array([
            .array([s("slots"), .array([.integer(0), .integer(100), .integer(200), .integer(16383)]),
                    s("nodes"), .array([node(7001, 8001, "replica", "online"), node(7000, 8000, "master", "online")])]),
            .array([s("slots"), .array([.integer(101), .integer(199)]),
                    s("nodes"), .array([node(7002, nil, "master", "fail"), node(7003, nil, "master", "online")])]),
        ])
        let map = try XCTUnwrap(ClusterSlotMap.parse(shards: reply, tls: false))
        XCTAssertTrue(map.isComplete)
        XCTAssertEqual(map.owner(ofSlot: 0), RedisAddress(host: "127.0.0.1", port: 7000))
        XCTAssertEqual(map.owner(ofSlot: 150), RedisAddress(host: "127.0.0.1", port: 7003), "the failed master is skipped")
        XCTAssertEqual(map.owner(ofSlot: 16383), RedisAddress(host: "127.0.0.1", port: 7000))
        let tls = try XCTUnwrap(ClusterSlotMap.parse(shards: reply, tls: true))
        XCTAssertEqual(tls.owner(ofSlot: 0)?.port, 8000, "rediss:// uses the tls-port")
        XCTAssertEqual(tls.owner(ofSlot: 150)?.port, 7003, "no tls-port: the port")
        let named = RedisReply.array([.array([s("slots"), .array([.integer(0), .integer(16383)]), s("nodes"), .array([
            .array([s("ip"), s("10.0.0.9"), s("endpoint"), s("redis-0.example"), s("port"), .integer(6379), s("role"), s("master")]),
        ])])])
        XCTAssertEqual(ClusterSlotMap.parse(shards: named, tls: false)?.owner(ofSlot: 9)?.host, "redis-0.example",
                       "the endpoint MOVED names, not the IP")
        let lonely = RedisReply.array([.array([s("slots"), .array([.integer(0), .integer(16383)]), s("nodes"), .array([
            .array([s("ip"), s(""), s("endpoint"), s(""), s("port"), .integer(7000), s("role"), s("master")]),
        ])])])
        XCTAssertEqual(ClusterSlotMap.parse(shards: lonely, tls: false, askedHost: "10.1.1.1")?.owner(ofSlot: 0),
                       RedisAddress(host: "10.1.1.1", port: 7000), "no IP known yet: the node asked")
        XCTAssertNil(ClusterSlotMap.parse(shards: .status("OK"), tls: false))
        XCTAssertNil(ClusterSlotMap.parse(shards: .array([.array([s("slots")])]), tls: false), "odd map")
    }

    func testSlotsReplyAndGaps() throws {
        let reply = RedisReply.array([
            .array([.integer(0), .integer(8000), .array([s("10.0.0.1"), .integer(6379), s("id")]), .array([s("10.0.0.2"), .integer(6379)])]),
            .array([.integer(8001), .integer(16000), .array([s("10.0.0.3"), .integer(6380)])]),
        ])
        let map = try XCTUnwrap(ClusterSlotMap.parse(slots: reply))
        XCTAssertEqual(map.owner(ofSlot: 8000), RedisAddress(host: "10.0.0.1", port: 6379))
        XCTAssertEqual(map.owner(ofSlot: 8001), RedisAddress(host: "10.0.0.3", port: 6380))
        XCTAssertNil(map.owner(ofSlot: 16001), "not served")
        XCTAssertFalse(map.isComplete)
        XCTAssertEqual(map.masters.count, 2)
        var moved = map
        moved.assign(slot: 5, to: RedisAddress(host: "10.0.0.3", port: 6380))
        XCTAssertEqual(moved.owner(ofSlot: 5)?.host, "10.0.0.3")
        XCTAssertEqual(moved.owner(ofSlot: 6)?.host, "10.0.0.1")
        XCTAssertNil(ClusterSlotMap.parse(slots: .array([.array([.integer(5), .integer(1), .array([s("h"), .integer(1)])])])), "start > end")
    }
}

final class ClusterRequestAttemptsTests: XCTestCase {
    let ms: UInt64 = 1_000_000

    func testEachAnswerLeadsToItsAction() {
        let a = RedisAddress(host: "127.0.0.1", port: 7001)
        let rows: [(Result<RedisReply, RedisError>, ClusterRequestAttempts.Action)] = [
            (.success(.integer(1)), .complete),
            (.success(.error("ERR wrong number of arguments")), .complete),
            (.success(.error("NOSCRIPT No matching script")), .complete),
            (.success(.error("MOVED 3999 127.0.0.1:7001")), .redirect(to: a, asking: false, refreshMap: true, movedSlot: 3999)),
            (.success(.error("ASK 3999 127.0.0.1:7001")), .redirect(to: a, asking: true, refreshMap: false, movedSlot: nil)),
            (.success(.error("MOVED 3999 :7001")), .complete),  // no endpoint: nothing to follow
            (.success(.error("TRYAGAIN Multiple keys request during rehashing of slot")), .retry(afterMilliseconds: 10)),
            (.success(.error("CLUSTERDOWN The cluster is down")), .retry(afterMilliseconds: 10)),
            (.failure(.unavailable), .retry(afterMilliseconds: 10)),
            (.failure(.disconnected), .complete),  // may have run: never repeated
            (.failure(.timeout), .complete),
        ]
        for (outcome, expected) in rows {
            var attempts = ClusterRequestAttempts(now: 0)
            XCTAssertEqual(attempts.outcome(outcome, now: 0), expected, "\(outcome)")
        }
    }

    func testRetriesBackOffAndStopAtTheDeadline() {
        var attempts = ClusterRequestAttempts(now: 0, budgetMilliseconds: 100)
        let down = Result<RedisReply, RedisError>.success(.error("CLUSTERDOWN"))
        XCTAssertEqual(attempts.outcome(down, now: 0), .retry(afterMilliseconds: 10))
        XCTAssertEqual(attempts.outcome(down, now: 10 * ms), .retry(afterMilliseconds: 20))
        XCTAssertEqual(attempts.outcome(down, now: 30 * ms), .retry(afterMilliseconds: 40))
        XCTAssertEqual(attempts.noRoute(now: 70 * ms), .retry(afterMilliseconds: 80))
        guard case .fail = attempts.outcome(down, now: 100 * ms) else { return XCTFail("past the deadline: fail") }
    }

    func testRedirectsAreBounded() {
        var attempts = ClusterRequestAttempts(now: 0, maxRedirects: 2)
        let moved = Result<RedisReply, RedisError>.success(.error("MOVED 1 10.0.0.1:6379"))
        guard case .redirect = attempts.outcome(moved, now: 0), case .redirect = attempts.outcome(moved, now: 0) else {
            return XCTFail("two redirects followed")
        }
        guard case .fail = attempts.outcome(moved, now: 0) else { return XCTFail("the third is refused") }
    }

    func testIPv6Address() {
        XCTAssertEqual(ClusterRequestAttempts.address("::1:7000"), RedisAddress(host: "::1", port: 7000))
        XCTAssertNil(ClusterRequestAttempts.address("?:7000"))
        XCTAssertNil(ClusterRequestAttempts.address("host"))
    }
}
