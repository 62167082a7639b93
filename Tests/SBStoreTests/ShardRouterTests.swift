@testable import SBStore
import XCTest

/// The jump hash that places sessions on shards (the Python sharding test checks the same
/// placement with an independent implementation against real shards).
final class ShardRouterTests: XCTestCase {
    let ids = (0..<10_000).map { "session-\($0)" }

    func testOneShardTakesEverything() {
        XCTAssertTrue(ids.allSatisfy { ShardRouter(count: 1).shard(of: $0) == 0 })
    }

    func testSpreadIsEvenAndStable() {
        let router = ShardRouter(count: 5)
        var counts = [Int](repeating: 0, count: 5)
        for id in ids { counts[router.shard(of: id)] += 1 }
        XCTAssertTrue(counts.allSatisfy { (1700...2300).contains($0) }, "about 2000 each: \(counts)")
        XCTAssertEqual(ids.map(router.shard), ids.map(ShardRouter(count: 5).shard), "same placement in every process")
        XCTAssertEqual(ShardRouter.key("a"), 0xaf63_dc4c_8601_ec8c, "FNV-1a 64 of \"a\"")
    }

    func testAddingAShardMovesOnlyItsShareAndOnlyToTheNewShard() {
        for n in 1...7 {
            let before = ShardRouter(count: n), after = ShardRouter(count: n + 1)
            var moved = 0
            for id in ids {
                let old = before.shard(of: id), new = after.shard(of: id)
                if old != new {
                    moved += 1
                    XCTAssertEqual(new, n, "a moved session goes to the new shard")
                }
            }
            let share = Double(moved) / Double(ids.count)
            XCTAssertEqual(share, 1 / Double(n + 1), accuracy: 0.03, "\(n)→\(n + 1) shards moves about 1/\(n + 1)")
        }
    }
}
