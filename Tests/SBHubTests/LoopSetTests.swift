import XCTest
@testable import SBHub

/// The per-session set of loops with a subscriber, at the word boundaries and at THREADS' maximum.
final class LoopSetTests: XCTestCase {
    func testEveryLoopAtTheBoundariesAndTheMaximum() {
        for loops in [1, 63, 64, 65, 128, 129, 256] {
            var set = LoopSet(capacity: loops)
            XCTAssertGreaterThanOrEqual(set.capacity, loops)
            XCTAssertTrue(set.isEmpty)
            // Each loop alone: only that one is in the set, and removing it empties the set.
            for loop in 0..<loops {
                set.set(loop, true)
                XCTAssertFalse(set.isEmpty, "loops=\(loops) loop=\(loop)")
                let members = (0..<loops).filter { set.contains($0) }
                XCTAssertEqual(members, [loop], "loops=\(loops)")
                set.set(loop, false)
                XCTAssertTrue(set.isEmpty, "loops=\(loops) loop=\(loop)")
            }
            // All of them at once, then all but the last.
            for loop in 0..<loops { set.set(loop, true) }
            XCTAssertEqual((0..<loops).filter { set.contains($0) }.count, loops)
            set.set(loops - 1, false)
            XCTAssertFalse(set.contains(loops - 1))
            XCTAssertEqual((0..<loops).filter { set.contains($0) }.count, loops - 1)
            XCTAssertFalse(set.contains(-1))
            XCTAssertFalse(set.contains(set.capacity))
        }
    }

    func testLoopsPast64AreDistinctFromTheirLowTwins() {
        // The defect this replaces: `1 << UInt64(index)` is 0 from index 64 on, so loops 64+
        // were never told. 64 and 0 (and 65 and 1) must be different members.
        var set = LoopSet(capacity: 256)
        set.set(64, true)
        XCTAssertTrue(set.contains(64))
        XCTAssertFalse(set.contains(0))
        set.set(255, true)
        XCTAssertTrue(set.contains(255))
        XCTAssertFalse(set.contains(191))
        XCTAssertFalse(set.contains(127))
        set.set(64, false)
        set.set(255, false)
        XCTAssertTrue(set.isEmpty)
    }

    func testSixtyFourLoopsNeedNoExtraWord() {
        XCTAssertEqual(LoopSet(capacity: 64).capacity, 64)
        XCTAssertEqual(LoopSet(capacity: 65).capacity, 128)
        XCTAssertEqual(LoopSet(capacity: 256).capacity, 256)
    }
}
