import XCTest
import SBStore
@testable import SBHub

/// The coalescer by tables: events in, actions out, the clock passed in (milliseconds).
final class PresenceCoalescerTests: XCTestCase {
    typealias Coalescer = PresenceCoalescer

    func entry(_ id: Int) -> PresenceEntry {
        PresenceEntry(clientId: "c\(id)", instanceId: "i", sinceMillis: Int64(id))
    }

    func joins(_ ids: ClosedRange<Int>) -> [PresenceEntry] { ids.map(entry) }

    func testUpToTheRateChangesGoOutOneByOneAtOnce() {
        var coalescer = Coalescer()
        XCTAssertEqual(coalescer.received(sessionId: "s", joins: joins(1...19), leaves: [], now: 0),
                       joins(1...19).map { .send(.join($0)) })
        XCTAssertEqual(coalescer.received(sessionId: "s", joins: [], leaves: [entry(1)], now: 999), [.send(.leave(entry(1)))],
                       "the 20th change of the window")
        // Other sessions count on their own.
        XCTAssertEqual(coalescer.received(sessionId: "t", joins: [entry(1)], leaves: [], now: 999), [.send(.join(entry(1)))])
        // A new window: one by one again.
        XCTAssertEqual(coalescer.received(sessionId: "s", joins: [entry(30)], leaves: [], now: 1000), [.send(.join(entry(30)))])
    }

    /// (time, joins, leaves) → actions, in order, for one session.
    func testPastTheRateOneDiffPerWindowThenOneByOneAfterAQuietWindow() {
        var coalescer = Coalescer()
        _ = coalescer.received(sessionId: "s", joins: joins(1...20), leaves: [], now: 0)
        let steps: [(at: Int64, joins: [PresenceEntry], leaves: [PresenceEntry], flush: Bool, expected: [Coalescer.Action])] = [
            (100, [entry(21)], [], false, [.flush(at: 1000)]),                      // the 21st waits for the window's end
            (200, [entry(22), entry(23)], [], false, []),                            // one flush asked per batch
            (300, [], [entry(22)], false, []),                                       // joined and left inside the batch: neither
            (400, [], [entry(5)], false, []),                                        // announced before: its leave is listed
            (1000, [], [], true, [.send(.diff(joins: [entry(21), entry(23)], leaves: [entry(5)], omittedJoins: 0, omittedLeaves: 0))]),
            (1500, [entry(24)], [], false, [.flush(at: 2000)]),                      // still batched in the next window
            (2000, [], [], true, [.send(.diff(joins: [entry(24)], leaves: [], omittedJoins: 0, omittedLeaves: 0))]),
            (3000, [entry(25)], [], false, [.send(.join(entry(25)))]),               // a quiet window: one by one again
        ]
        for (index, step) in steps.enumerated() {
            let actions = step.flush
                ? coalescer.flush(sessionId: "s", now: step.at)
                : coalescer.received(sessionId: "s", joins: step.joins, leaves: step.leaves, now: step.at)
            XCTAssertEqual(actions, step.expected, "step \(index) at \(step.at) ms")
        }
    }

    func testABatchThatCancelsOutSendsNothing() {
        var coalescer = Coalescer()
        _ = coalescer.received(sessionId: "s", joins: joins(1...20), leaves: [], now: 0)
        XCTAssertEqual(coalescer.received(sessionId: "s", joins: [entry(40)], leaves: [], now: 10), [.flush(at: 1000)])
        XCTAssertEqual(coalescer.received(sessionId: "s", joins: [], leaves: [entry(40)], now: 20), [])
        XCTAssertEqual(coalescer.flush(sessionId: "s", now: 1000), [])
    }

    /// A mass reconnect: 1,000 joins and 500 leaves in one second reach watchers as 20 single
    /// messages and one diff listing 100 of each, the rest counted.
    func testAMassReconnectIsOneBoundedDiff() {
        var coalescer = Coalescer()
        var sent = 0
        for id in 1...1000 {
            sent += coalescer.received(sessionId: "s", joins: [entry(id)], leaves: [], now: Int64(id / 2)).filter {
                if case .send = $0 { return true } else { return false }
            }.count
        }
        for id in 2001...2500 {
            _ = coalescer.received(sessionId: "s", joins: [], leaves: [entry(id)], now: 600)
        }
        XCTAssertEqual(sent, 20)
        guard case .send(.diff(let joins, let leaves, let omittedJoins, let omittedLeaves))? = coalescer.flush(sessionId: "s", now: 1000).first else {
            return XCTFail("one diff")
        }
        XCTAssertEqual(joins, (21...120).map(entry))
        XCTAssertEqual(leaves, (2001...2100).map(entry))
        XCTAssertEqual([omittedJoins, omittedLeaves], [880, 400])
        XCTAssertNil(coalescer.sessions["s"]?.batch, "nothing held after the flush")
    }

    func testStateIsForgottenWhenQuietOrUnwatched() {
        var coalescer = Coalescer()
        _ = coalescer.received(sessionId: "quiet", joins: [entry(1)], leaves: [], now: 0)
        _ = coalescer.received(sessionId: "busy", joins: joins(1...21), leaves: [], now: 500)
        coalescer.prune(now: 1200)
        XCTAssertEqual(Set(coalescer.sessions.keys), ["busy"], "a batch waiting is kept; a quiet window is not")
        coalescer.forget(sessionId: "busy")
        XCTAssertEqual(coalescer.flush(sessionId: "busy", now: 1500), [], "a forgotten session's timer sends nothing")
        XCTAssertTrue(coalescer.sessions.isEmpty)
    }
}
