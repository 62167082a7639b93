import Foundation
import Logging
import XCTest
import SBCore
import SBEventLoop
import SBRedis
@testable import SBStore
import SBTestSupport

/// Presence (issue 26) under leases: the same bodies for every Redis setup (plain, sharded,
/// replicated), then what only leases do, on a real redis-server. The memory store keeps none.
extension StoreContract {
    func presenceEntry(_ id: String, since: Int64) -> PresenceEntry {
        PresenceEntry(clientId: id, instanceId: "inst-1", sinceMillis: since, info: Array("{\"sub\":\"ada\",\"info\":{\"n\":[1,\"é\"]}}".utf8))
    }

    func testPresenceJoinsLeavesExactCountAndTheCap() throws {
        guard store.leasedPresence != nil else {
            return XCTAssertTrue(store is MemoryStore, "every Redis setup keeps presence under leases")
        }
        for (id, since) in [("c3", Int64(1_700_000_003_000)), ("c1", 1_700_000_001_000), ("c2", 1_700_000_002_000)] {
            try call { $0.leasedPresence!.presenceJoin(sessionId: "c-pr", entry: self.presenceEntry(id, since: since), $1) }
        }
        let all = try call { $0.leasedPresence!.presence(sessionId: "c-pr", limit: 1000, $1) }
        XCTAssertEqual(all.count, 3)
        XCTAssertEqual(all.entries.map(\.clientId), ["c1", "c2", "c3"], "oldest first")
        XCTAssertEqual(all.entries[0], presenceEntry("c1", since: 1_700_000_001_000), "the entry round-trips whole, info included")
        let capped = try call { $0.leasedPresence!.presence(sessionId: "c-pr", limit: 2, $1) }
        XCTAssertEqual(capped.count, 3, "the count stays exact past the cap")
        XCTAssertEqual(capped.entries.count, 2)
        XCTAssertTrue(Set(capped.entries.map(\.clientId)).isSubset(of: ["c1", "c2", "c3"]))

        try call { $0.leasedPresence!.presenceLeave(sessionId: "c-pr", clientId: "c2", $1) }
        try call { $0.leasedPresence!.presenceLeave(sessionId: "c-pr", clientId: "c2", $1) }
        XCTAssertEqual(try call { $0.leasedPresence!.presence(sessionId: "c-pr", limit: 1000, $1) }.entries.map(\.clientId), ["c1", "c3"])
        XCTAssertEqual(try call { $0.leasedPresence!.presenceRenew(sessionId: "c-pr", clientIds: ["c1", "c2", "c3"], $1) }, ["c2"],
                       "renewing names the ids that are gone, for the caller to join again")
        XCTAssertEqual(try call { $0.leasedPresence!.presence(sessionId: "c-other", limit: 1000, $1) }, PresenceList(count: 0, entries: []))
    }
}

extension MemoryStoreContractTests {
    /// One instance: the hub answers presence from its own subscriptions (LoopHub+Presence), so
    /// the memory store keeps no copy of them (idle memory per subscription).
    func testTheMemoryStoreKeepsNoPresence() {
        XCTAssertNil(store.leasedPresence)
    }
}

extension RedisStoreContractTests {
    /// A dead instance's entry: its lease runs out (set here by hand), readers stop listing it
    /// at once, the next renewal by anyone sweeps it and publishes its leave, and nothing after
    /// publishes it again. The join and leave messages the Lua writes are the Swift writer's
    /// bytes, and `parse` reads them back.
    func testAnExpiredLeaseIsSweptOnceWithOneLeaveInTheSwiftWritersBytes() throws {
        let (subscriber, payloads) = try subscribeToEventsChannel()
        XCTAssertNotNil(store.leasedPresence)

        let alive = presenceEntry("alive", since: 1_700_000_000_000)
        let dead = presenceEntry("dead", since: 1_700_000_000_500)
        try call { $0.leasedPresence!.presenceJoin(sessionId: "c-sw", entry: alive, $1) }
        try call { $0.leasedPresence!.presenceJoin(sessionId: "c-sw", entry: dead, $1) }
        // The reply's last line (after AUTH's and SELECT's +OK) is PTTL's integer.
        let ttl = try redis.command(["PTTL", "ct:presence:c-sw"], password: "pw", db: 3)
            .split(separator: "\r\n").last.flatMap { Int($0.dropFirst()) } ?? -1
        XCTAssertGreaterThan(ttl, 0, "the keys expire by themselves")

        _ = try redis.command(["ZADD", "ct:presence:c-sw", "1", "dead"], password: "pw", db: 3)  // its lease ran out
        let read = try call { $0.leasedPresence!.presence(sessionId: "c-sw", limit: 1000, $1) }
        XCTAssertEqual(read.count, 1, "an expired entry is not counted, even before a sweep")
        XCTAssertEqual(read.entries, [alive])

        XCTAssertEqual(try call { $0.leasedPresence!.presenceRenew(sessionId: "c-sw", clientIds: ["alive"], $1) }, [])
        XCTAssertEqual(try call { $0.leasedPresence!.presenceRenew(sessionId: "c-sw", clientIds: ["alive"], $1) }, [], "a second sweep finds nothing")
        try call { $0.leasedPresence!.presenceLeave(sessionId: "c-sw", clientId: "dead", $1) }  // its own leave, late: already published
        try call { $0.leasedPresence!.presenceLeave(sessionId: "c-sw", clientId: "alive", $1) }
        XCTAssertEqual(try call { $0.leasedPresence!.presenceRenew(sessionId: "c-sw", clientIds: [], $1) }, [])
        XCTAssertTrue(try redis.command(["EXISTS", "ct:presence:c-sw", "ct:presenceentries:c-sw"], password: "pw", db: 3).hasSuffix("\r\n:0\r\n"),
                      "empty presence keys are removed")

        XCTAssertTrue(waitFor(timeout: 5) { self.onLoop { payloads.value.count } >= 4 })
        Thread.sleep(forTimeInterval: 0.2)  // a window for a fifth that must not come
        let messages = onLoop { payloads.value }
        group.loops[0].execute { subscriber.close() }
        XCTAssertEqual(messages.count, 4, messages.map { String(decoding: $0, as: UTF8.self) }.joined(separator: "\n"))
        XCTAssertEqual(messages, [
            RedisChannelMessage.presence(sessionId: "c-sw", joins: [alive], leaves: []),
            RedisChannelMessage.presence(sessionId: "c-sw", joins: [dead], leaves: []),
            RedisChannelMessage.presence(sessionId: "c-sw", joins: [], leaves: [dead]),
            RedisChannelMessage.presence(sessionId: "c-sw", joins: [], leaves: [alive]),
        ], "Lua wrote the Swift writer's bytes; one leave for the dead entry (the sweep's), none from its late leave")
        guard case .presence(let sessionId, let joins, let leaves)? = RedisChannelMessage.parse(messages[2]) else {
            return XCTFail("unparsed presence message")
        }
        XCTAssertEqual(sessionId, "c-sw")
        XCTAssertEqual(joins, [])
        XCTAssertEqual(leaves, [dead])
    }
}
