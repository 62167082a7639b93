import SBWebSocket
import XCTest
@testable import SBHub
import SBCore
import SBServer
import SBStore

/// The subscription state machine, without sockets or a store: each row feeds events and
/// checks the actions, the position and the state that follow.
final class SubscriptionStateMachineTests: XCTestCase {
    typealias Machine = SubscriptionStateMachine
    typealias Action = Machine.Action

    /// One frame per (epoch, seq), so `.send` actions can be compared by identity.
    final class Frames {
        var cache: [String: SharedFrame] = [:]
        func frame(_ seq: Int64?, _ epoch: String? = "E") -> SharedFrame {
            let key = "\(epoch ?? "-")/\(seq.map(String.init) ?? "push")"
            if let frame = cache[key] { return frame }
            let frame = FrameBuilder.textFrame(Array(key.utf8))
            cache[key] = frame
            return frame
        }
    }

    let frames = Frames()

    func stored(_ seqs: ClosedRange<Int64>) -> [StoredEvent] {
        seqs.map { StoredEvent(seq: $0, json: Array("{\"seq\":\($0)}".utf8)) }
    }

    func page(_ epoch: String = "E", last: Int64, oldest: Int64 = 1, _ events: [StoredEvent] = []) -> StreamPage {
        StreamPage(epoch: epoch, lastSeq: last, oldestSeq: oldest, events: events)
    }

    func confirm(_ epoch: String = "E", last: Int64, oldest: Int64 = 1, recovered: Bool = true) -> Action {
        .confirm(Machine.Confirmation(epoch: epoch, lastSeq: last, oldestSeq: oldest, recovered: recovered))
    }

    func live(_ machine: inout Machine, _ seq: Int64?, _ epoch: String? = "E", heldByteLimit: Int = 1 << 20) -> [Action] {
        switch machine.live(seq: seq, epoch: epoch, message: frames.frame(seq, epoch), heldByteLimit: heldByteLimit) {
        case .send: return [.send([frames.frame(seq, epoch)])]
        case .drop: return []
        case .actions(let actions): return actions
        }
    }

    // MARK: Subscribe without lastEventId

    func testPlainSubscribeStartsAtTheCurrentLastSeqAndHoldsWhatArrivesMeanwhile() {
        var m = Machine()
        XCTAssertEqual(m.subscribe(lastEventId: nil, epoch: nil), [.read(after: 0, events: false)])
        // 5 was stored before the read, 6 after: the read says lastSeq 5.
        XCTAssertEqual(live(&m, 5), [])
        XCTAssertEqual(live(&m, 6), [])
        XCTAssertEqual(m.pageRead(page(last: 5)), [confirm(last: 5), .send([frames.frame(6)])])
        XCTAssertEqual(m.state, .live)
        XCTAssertEqual(m.position, 6)
        XCTAssertEqual(live(&m, 7), [.send([frames.frame(7)])])
        XCTAssertEqual(live(&m, 7), [], "never twice")
        XCTAssertEqual(live(&m, nil), [.send([frames.frame(nil)])], "pushes pass")
        XCTAssertFalse(m.isCatchingUp, "a live subscription keeps no replay state (idle memory)")
        XCTAssertLessThanOrEqual(MemoryLayout<Machine>.size, 33, "the size its comment gives: Subscription packs its small fields into the tail")
    }

    // MARK: Resume

    func testResumeTable() {
        struct Row {
            var name: String
            var lastEventId: Int64
            var clientEpoch: String?
            var page: StreamPage
            var expected: [Action]
            var position: Int64
            var state: Machine.State
        }
        let rows: [Row] = [
            Row(name: "covered: replay then live", lastEventId: 2, clientEpoch: "E", page: page(last: 4, stored(3...4)),
                expected: [confirm(last: 4), .replay(stored(3...4))], position: 4, state: .live),
            Row(name: "no epoch sent (old dashboards)", lastEventId: 2, clientEpoch: nil, page: page(last: 4, stored(3...4)),
                expected: [confirm(last: 4), .replay(stored(3...4))], position: 4, state: .live),
            Row(name: "up to date", lastEventId: 4, clientEpoch: "E", page: page(last: 4),
                expected: [confirm(last: 4)], position: 4, state: .live),
            Row(name: "older than the oldest kept", lastEventId: 2, clientEpoch: "E", page: page(last: 9, oldest: 6, stored(6...9)),
                expected: [confirm(last: 9, oldest: 6, recovered: false), .replay(stored(6...9))], position: 9, state: .live),
            Row(name: "just before the oldest kept is covered", lastEventId: 5, clientEpoch: "E", page: page(last: 9, oldest: 6, stored(6...9)),
                expected: [confirm(last: 9, oldest: 6), .replay(stored(6...9))], position: 9, state: .live),
            Row(name: "other epoch: from the start", lastEventId: 7, clientEpoch: "OLD", page: page(last: 2),
                expected: [confirm(last: 2, recovered: false), .read(after: 0, events: true)], position: 0, state: .replaying),
            Row(name: "beyond the end (stream restarted, no epoch sent)", lastEventId: 7, clientEpoch: nil, page: page(last: 2),
                expected: [confirm(last: 2, recovered: false), .read(after: 0, events: true)], position: 0, state: .replaying),
            Row(name: "more pages to read", lastEventId: 0, clientEpoch: nil, page: page(last: 10, stored(1...4)),
                expected: [confirm(last: 10), .replay(stored(1...4)), .read(after: 4, events: true)], position: 4, state: .replaying),
        ]
        for row in rows {
            var m = Machine()
            XCTAssertEqual(m.subscribe(lastEventId: row.lastEventId, epoch: row.clientEpoch), [.read(after: row.lastEventId, events: true)], row.name)
            XCTAssertEqual(m.pageRead(row.page), row.expected, row.name)
            XCTAssertEqual(m.position, row.position, row.name)
            XCTAssertEqual(m.state, row.state, row.name)
        }
    }

    func testLiveEventsWaitBehindTheReplayAndDuplicatesAreDropped() {
        var m = Machine()
        _ = m.subscribe(lastEventId: 0, epoch: nil)
        XCTAssertEqual(live(&m, 3), [])
        XCTAssertEqual(m.pageRead(page(last: 2, stored(1...2))), [confirm(last: 2), .replay(stored(1...2)), .send([frames.frame(3)])])
        var n = Machine()
        _ = n.subscribe(lastEventId: 0, epoch: nil)
        XCTAssertEqual(live(&n, 2), [], "stored before the read answered: held, then dropped as already replayed")
        XCTAssertEqual(n.pageRead(page(last: 2, stored(1...2))), [confirm(last: 2), .replay(stored(1...2))])
        XCTAssertEqual(n.state, .live)
    }

    func testHeldOverflowDropsEventsKeepsPushesAndReadsAgain() {
        let size = frames.frame(1).count
        var m = Machine()
        _ = m.subscribe(lastEventId: 0, epoch: nil)
        for seq in Int64(1)...4 { XCTAssertEqual(live(&m, seq, heldByteLimit: size * 2), []) }
        XCTAssertEqual(live(&m, nil, heldByteLimit: size * 2), [])
        XCTAssertTrue(m.readAgain)
        XCTAssertLessThanOrEqual(m.heldBytes, size * 2, "the hold stays within its bound")
        // The read predates 1...4: they come from history on the next read.
        XCTAssertEqual(m.pageRead(page(last: 0)), [confirm(last: 0), .read(after: 0, events: true)])
        XCTAssertEqual(m.pageRead(page(last: 4, stored(1...4))), [.replay(stored(1...4)), .send([frames.frame(nil)])])
        XCTAssertEqual(m.state, .live)
    }

    // MARK: Gaps, resets, resync

    func testAGapInLiveEventsIsFilledFromHistory() {
        var m = Machine()
        _ = m.subscribe(lastEventId: nil, epoch: nil)
        _ = m.pageRead(page(last: 3))
        XCTAssertEqual(live(&m, 6), [.read(after: 3, events: true)])
        XCTAssertEqual(m.state, .replaying)
        XCTAssertEqual(m.pageRead(page(last: 6, stored(4...6))), [.replay(stored(4...6))])
        XCTAssertEqual(m.position, 6)
        XCTAssertEqual(m.state, .live)
    }

    func testDeleteResetFollowsTheNewStream() {
        var m = Machine()
        _ = m.subscribe(lastEventId: nil, epoch: nil)
        _ = m.pageRead(page(last: 3))
        XCTAssertEqual(m.reset(epoch: "F"), [.announceReset(epoch: "F")])
        XCTAssertEqual(m.reset(epoch: "F"), [], "announced once")
        XCTAssertEqual(m.position, 0)
        XCTAssertEqual(live(&m, 1, "F"), [.send([frames.frame(1, "F")])])
    }

    func testAnEventFromAnotherEpochIsCheckedAgainstHistory() {
        var m = Machine()
        _ = m.subscribe(lastEventId: nil, epoch: nil)
        _ = m.pageRead(page(last: 3))
        // Expiry or FLUSHALL: the next event is seq 1 of a new epoch.
        XCTAssertEqual(live(&m, 1, "F"), [.read(after: 3, events: true)])
        XCTAssertEqual(m.pageRead(page("F", last: 1, stored(1...1))),
                       [.announceReset(epoch: "F"), .replay(stored(1...1))])
        XCTAssertEqual(m.state, .live)
        XCTAssertEqual(m.position, 1)
        XCTAssertEqual(m.epoch, "F")
    }

    func testAStaleEventOfAnOldEpochIsDropped() {
        var m = Machine()
        _ = m.subscribe(lastEventId: nil, epoch: nil)
        _ = m.pageRead(page(last: 3))
        XCTAssertEqual(live(&m, 9, "OLD"), [.read(after: 3, events: true)])
        XCTAssertEqual(m.pageRead(page(last: 3)), [], "history still shows epoch E: the event was stale")
        XCTAssertEqual(m.state, .live)
        XCTAssertEqual(m.held.count, 0)
    }

    func testResetDuringAReplayIsTakenAfterIt() {
        var m = Machine()
        _ = m.subscribe(lastEventId: 0, epoch: nil)
        XCTAssertEqual(m.reset(epoch: "F"), [])
        XCTAssertEqual(m.pageRead(page(last: 2, stored(1...2))), [confirm(last: 2), .replay(stored(1...2)), .read(after: 2, events: true)])
        XCTAssertEqual(m.pageRead(page("F", last: 0)), [.announceReset(epoch: "F"), .read(after: 0, events: true)])
        XCTAssertEqual(m.pageRead(page("F", last: 0)), [])
        XCTAssertEqual(m.state, .live)
    }

    func testResyncReadsFromTheSubscriptionsOwnPosition() {
        var m = Machine()
        _ = m.subscribe(lastEventId: nil, epoch: nil)
        _ = m.pageRead(page(last: 200))
        XCTAssertEqual(m.resynchronize(), [.read(after: 200, events: true)], "not from 0: nothing old is sent again")
        XCTAssertEqual(m.pageRead(page(last: 201, stored(201...201))), [.replay(stored(201...201))])
        XCTAssertEqual(m.resynchronize(), [.read(after: 201, events: true)])
        XCTAssertEqual(m.resynchronize(), [], "a read is already pending")
        XCTAssertEqual(m.pageRead(page(last: 201)), [.read(after: 201, events: true)], "the second resync reads once more")
        XCTAssertEqual(m.pageRead(page(last: 201)), [])
    }

    func testFailedReadsRetryThenGiveUpAndGoLive() {
        var m = Machine()
        _ = m.subscribe(lastEventId: 5, epoch: nil)
        XCTAssertEqual(live(&m, 9), [])
        for _ in 0..<Machine.maxReadFailures {
            XCTAssertEqual(m.readFailed(), [.readLater(after: 5, events: true)])
        }
        XCTAssertEqual(m.readFailed(), [.reportReplayFailed, .send([frames.frame(9)])])
        XCTAssertEqual(m.state, .live)
    }
}
