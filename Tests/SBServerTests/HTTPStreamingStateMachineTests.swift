import XCTest
@testable import SBServer

/// The streaming-response part of the HTTP connection machine (Server-Sent Events): every
/// state against the stream's events, then the sequences a stream lives through. Times are
/// passed in: no socket, no clock.
final class HTTPStreamingStateMachineTests: XCTestCase {
    typealias Machine = HTTPConnectionStateMachine
    typealias A = HTTPConnectionStateMachine.Action
    static let s: UInt64 = 1_000_000_000

    static func fresh() -> Machine {
        Machine(configuration: .init(headerTimeout: 10 * s, idleTimeout: 120 * s, lingerTimeout: 2 * s,
                                     sendQueueLimit: 100, lowWater: 25, streamHeartbeat: 5 * s), now: 0)
    }

    /// Each state, reached by real events at t = 0.
    static func make(_ name: String) -> Machine {
        var m = fresh()
        switch name {
        case "idle": break
        case "responding": _ = m.requestReceived(keepAlive: true)
        case "respondingLast": _ = m.requestReceived(keepAlive: false)
        case "respondingDraining": _ = m.requestReceived(keepAlive: true); _ = m.shutdownRequested(now: 0)
        case "respondingPeerClosed": _ = m.requestReceived(keepAlive: true); _ = m.peerClosedInput()
        case "streaming": _ = m.requestReceived(keepAlive: true); _ = m.streamReady(now: 0)
        case "streamingWatched":
            _ = m.requestReceived(keepAlive: true); _ = m.streamReady(now: 0); _ = m.notifyWhenDrained(below: 25, queued: 80)
        case "streamEnded": _ = m.requestReceived(keepAlive: true); _ = m.streamReady(now: 0); _ = m.endStream(now: 0)
        case "closed": _ = m.connectionFailed()
        default: fatalError(name)
        }
        return m
    }

    enum Event {
        case head, request, inputNeeded, eof, socketError, response, failed
        case streamReady, queue(Int), liveRefused(queued: Int), watch(lowWater: Int, queued: Int), end, timer(UInt64), shutdown
    }

    static func apply(_ event: Event, to m: inout Machine) -> [A] {
        let now = s
        switch event {
        case .head: return m.headReceived(expectsContinue: true)
        case .request: return m.requestReceived(keepAlive: true)
        case .inputNeeded: return m.inputNeeded(midRequest: true, now: now)
        case .eof: return m.peerClosedInput()
        case .socketError: return m.connectionFailed()
        case .response: return m.responseReady(now: now)
        case .failed: return m.requestFailed(status: 400, message: "bad", now: now)
        case .streamReady: return m.streamReady(now: now)
        case .queue(let bytes): return m.queueChanged(bytes: bytes, now: now)
        case .liveRefused(let queued): return m.liveSendRefused(queued: queued)
        case .watch(let lowWater, let queued): return m.notifyWhenDrained(below: lowWater, queued: queued)
        case .end: return m.endStream(now: now)
        case .timer(let at): return m.timerFired(now: at)
        case .shutdown: return m.shutdownRequested(now: now)
        }
    }

    struct Row {
        let state: String
        let event: Event
        let actions: [A]
        let after: Machine.State
        let line: UInt
        init(_ state: String, _ event: Event, _ actions: [A], _ after: Machine.State, line: UInt = #line) {
            (self.state, self.event, self.actions, self.after, self.line) = (state, event, actions, after, line)
        }
    }

    func testTransitionTable() {
        let s = Self.s
        let open = A.writeStreamHead(open: true), refused = A.writeStreamHead(open: false)
        let rows: [Row] = [
            // the application answers with a stream: only a request in flight can become one;
            // reading resumes (to see EOF), the first heartbeat is due a period later
            Row("idle", .streamReady, [], .idle(since: 0)),
            Row("responding", .streamReady, [.resumeReading, open, .flush], .streaming(heartbeatDue: 6 * s)),
            Row("respondingLast", .streamReady, [.resumeReading, open, .flush], .streaming(heartbeatDue: 6 * s)),
            // while draining, or after the client's EOF: the head, then close
            Row("respondingDraining", .streamReady, [refused, .flush], .closingAfterFlush(since: s)),
            Row("respondingPeerClosed", .streamReady, [refused, .flush], .closingAfterFlush(since: s)),
            Row("streaming", .streamReady, [], .streaming(heartbeatDue: 5 * s)),
            Row("closed", .streamReady, [], .closed),
            // nothing after the stream's request is parsed or answered
            Row("streaming", .head, [], .streaming(heartbeatDue: 5 * s)),
            Row("streaming", .request, [], .streaming(heartbeatDue: 5 * s)),
            Row("streaming", .inputNeeded, [], .streaming(heartbeatDue: 5 * s)),
            Row("streaming", .failed, [], .streaming(heartbeatDue: 5 * s)),
            Row("streaming", .response, [], .streaming(heartbeatDue: 5 * s)),
            // the client's EOF or a socket error ends it at once
            Row("streaming", .eof, [.close], .closed),
            Row("streaming", .socketError, [.close], .closed),
            // heartbeats: none before due, then one per period
            Row("streaming", .timer(4 * s), [], .streaming(heartbeatDue: 5 * s)),
            Row("streaming", .timer(5 * s), [.sendHeartbeat], .streaming(heartbeatDue: 10 * s)),
            Row("streaming", .timer(7 * s), [.sendHeartbeat], .streaming(heartbeatDue: 12 * s)),
            // a live send the queue refused: cut off over the limit (never at it)
            Row("streaming", .liveRefused(queued: 101), [.countCutOff, .discardQueue, .close], .closed),
            Row("streaming", .liveRefused(queued: 100), [], .streaming(heartbeatDue: 5 * s)),
            Row("idle", .liveRefused(queued: 101), [], .idle(since: 0)),
            Row("streamEnded", .liveRefused(queued: 101), [], .closingAfterFlush(since: 0)),
            // queue changes never cut a stream off (paced replay bytes may exceed the limit)…
            Row("streaming", .queue(1000), [], .streaming(heartbeatDue: 5 * s)),
            Row("streaming", .queue(0), [], .streaming(heartbeatDue: 5 * s)),
            // …they release a drain watch once at or below its mark
            Row("streamingWatched", .queue(26), [], .streaming(heartbeatDue: 5 * s)),
            Row("streamingWatched", .queue(25), [.notifyDrained], .streaming(heartbeatDue: 5 * s)),
            Row("streaming", .watch(lowWater: 25, queued: 25), [.notifyDrained], .streaming(heartbeatDue: 5 * s)),
            Row("streaming", .watch(lowWater: 25, queued: 80), [], .streaming(heartbeatDue: 5 * s)),
            Row("idle", .watch(lowWater: 25, queued: 0), [], .idle(since: 0)),
            // the application ends it, or shutdown does: last bytes, then the usual close
            Row("streaming", .end, [.pauseReading, .flush], .closingAfterFlush(since: s)),
            Row("streamingWatched", .end, [.pauseReading, .flush], .closingAfterFlush(since: s)),
            Row("idle", .end, [], .idle(since: 0)),
            Row("streaming", .shutdown, [.pauseReading, .flush], .closingAfterFlush(since: s)),
            Row("streamEnded", .queue(0), [.resumeReading, .shutdownWrite], .lingering(deadline: 3 * s)),
            Row("streamEnded", .eof, [], .closingAfterFlush(since: 0)),
        ]
        for row in rows {
            var m = Self.make(row.state)
            let actions = Self.apply(row.event, to: &m)
            XCTAssertEqual(actions, row.actions, "\(row.state) + \(row.event)", line: row.line)
            XCTAssertEqual(m.state, row.after, "\(row.state) + \(row.event)", line: row.line)
        }
    }

    func testLiveSendsAllowedOnlyWhileStreamingWithinTheLimit() {
        XCTAssertTrue(Self.make("streaming").mayQueueLive(queued: 100))
        XCTAssertFalse(Self.make("streaming").mayQueueLive(queued: 101))
        XCTAssertFalse(Self.make("idle").mayQueueLive(queued: 0))
        XCTAssertFalse(Self.make("streamEnded").mayQueueLive(queued: 0))
    }

    func testDeadlineIsTheNextHeartbeatAndNoneWithoutHeartbeats() {
        XCTAssertEqual(Self.make("streaming").deadline, 5 * Self.s)
        var quiet = Machine(configuration: .init(headerTimeout: 10 * Self.s, idleTimeout: 120 * Self.s, sendQueueLimit: 100), now: 0)
        _ = quiet.requestReceived(keepAlive: true)
        _ = quiet.streamReady(now: 0)
        XCTAssertNil(quiet.deadline)
        XCTAssertEqual(quiet.timerFired(now: 1000 * Self.s), [])
    }

    /// A whole stream: opened, heartbeats, a paced replay waits for the drain, the client goes.
    func testStreamLifecycle() {
        let s = Self.s
        var m = Self.make("responding")
        XCTAssertEqual(m.streamReady(now: s), [.resumeReading, .writeStreamHead(open: true), .flush])
        XCTAssertEqual(m.notifyWhenDrained(below: 25, queued: 400), [])
        XCTAssertEqual(m.queueChanged(bytes: 200, now: 2 * s), [])
        XCTAssertEqual(m.timerFired(now: 6 * s), [.sendHeartbeat])
        XCTAssertEqual(m.queueChanged(bytes: 10, now: 7 * s), [.notifyDrained])
        XCTAssertEqual(m.queueChanged(bytes: 0, now: 7 * s), [], "one notice per watch")
        XCTAssertTrue(m.reading)
        XCTAssertEqual(m.peerClosedInput(), [.close])
        XCTAssertEqual(m.state, .closed)
    }
}
