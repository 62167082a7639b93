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
        case streamReady, queue(Int), liveSend(queued: Int), pacedSend, watch(lowWater: Int, queued: Int), end, timer(UInt64), shutdown
    }

    static func apply(_ event: Event, to m: inout Machine) -> A {
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
        case .liveSend(let queued):
            // The connection records a cut-off the (non-mutating) check decided.
            let action = m.liveSend(queued: queued)
            if action == .cutOff { m.cutOff() }
            return action
        case .pacedSend: return m.pacedSend()
        case .watch(let lowWater, let queued): return m.notifyWhenDrained(below: lowWater, queued: queued)
        case .end: return m.endStream(now: now)
        case .timer(let at): return m.timerFired(now: at)
        case .shutdown: return m.shutdownRequested(now: now)
        }
    }

    struct Row {
        let state: String
        let event: Event
        let action: A
        let after: Machine.State
        /// Whether the socket is read after the event; nil: as before it (a closed connection
        /// is never read).
        let reads: Bool?
        let line: UInt
        init(_ state: String, _ event: Event, _ action: A, _ after: Machine.State, reads: Bool? = nil, line: UInt = #line) {
            (self.state, self.event, self.action, self.after, self.reads, self.line) = (state, event, action, after, reads, line)
        }
    }

    func testTransitionTable() {
        let s = Self.s
        let open = A.writeStreamHead(open: true), refused = A.writeStreamHead(open: false)
        let rows: [Row] = [
            // the application answers with a stream: only a request in flight can become one;
            // reading resumes (to see EOF), the first heartbeat is due a period later
            Row("idle", .streamReady, .nothing, .idle(since: 0)),
            Row("responding", .streamReady, open, .streaming(heartbeatDue: 6 * s), reads: true),
            Row("respondingLast", .streamReady, open, .streaming(heartbeatDue: 6 * s), reads: true),
            // while draining, or after the client's EOF: the head, then close
            Row("respondingDraining", .streamReady, refused, .closingAfterFlush(since: s)),
            Row("respondingPeerClosed", .streamReady, refused, .closingAfterFlush(since: s)),
            Row("streaming", .streamReady, .nothing, .streaming(heartbeatDue: 5 * s)),
            Row("closed", .streamReady, .nothing, .closed),
            // nothing after the stream's request is parsed or answered
            Row("streaming", .head, .nothing, .streaming(heartbeatDue: 5 * s)),
            Row("streaming", .request, .nothing, .streaming(heartbeatDue: 5 * s)),
            Row("streaming", .inputNeeded, .nothing, .streaming(heartbeatDue: 5 * s)),
            Row("streaming", .failed, .nothing, .streaming(heartbeatDue: 5 * s)),
            Row("streaming", .response, .nothing, .streaming(heartbeatDue: 5 * s)),
            // the client's EOF or a socket error ends it at once
            Row("streaming", .eof, .close, .closed),
            Row("streaming", .socketError, .close, .closed),
            // heartbeats: none before due, then one per period
            Row("streaming", .timer(4 * s), .nothing, .streaming(heartbeatDue: 5 * s)),
            Row("streaming", .timer(5 * s), .sendHeartbeat, .streaming(heartbeatDue: 10 * s)),
            Row("streaming", .timer(7 * s), .sendHeartbeat, .streaming(heartbeatDue: 12 * s)),
            // live sends: queued within the limit, cut off over it (never at it), dropped when
            // there is no stream
            Row("streaming", .liveSend(queued: 101), .cutOff, .closed),
            Row("streamingWatched", .liveSend(queued: 101), .cutOff, .closed),
            Row("streaming", .liveSend(queued: 100), .send, .streaming(heartbeatDue: 5 * s)),
            Row("idle", .liveSend(queued: 0), .nothing, .idle(since: 0)),
            Row("responding", .liveSend(queued: 0), .nothing, .responding(closeAfter: false)),
            Row("streamEnded", .liveSend(queued: 0), .nothing, .closingAfterFlush(since: 0)),
            Row("closed", .liveSend(queued: 0), .nothing, .closed),
            // paced sends (replay) are never cut off, and only go to an open stream
            Row("streaming", .pacedSend, .send, .streaming(heartbeatDue: 5 * s)),
            Row("idle", .pacedSend, .nothing, .idle(since: 0)),
            Row("streamEnded", .pacedSend, .nothing, .closingAfterFlush(since: 0)),
            // queue changes never cut a stream off (paced replay bytes may exceed the limit)…
            Row("streaming", .queue(1000), .nothing, .streaming(heartbeatDue: 5 * s)),
            Row("streaming", .queue(0), .nothing, .streaming(heartbeatDue: 5 * s)),
            // …they release a drain watch once at or below its mark
            Row("streamingWatched", .queue(26), .nothing, .streaming(heartbeatDue: 5 * s)),
            Row("streamingWatched", .queue(25), .notifyDrained, .streaming(heartbeatDue: 5 * s)),
            Row("streaming", .watch(lowWater: 25, queued: 25), .notifyDrained, .streaming(heartbeatDue: 5 * s)),
            Row("streaming", .watch(lowWater: 25, queued: 80), .nothing, .streaming(heartbeatDue: 5 * s)),
            Row("idle", .watch(lowWater: 25, queued: 0), .nothing, .idle(since: 0)),
            // the application ends it, or shutdown does: last bytes, then the usual close
            Row("streaming", .end, .flush, .closingAfterFlush(since: s), reads: false),
            Row("streamingWatched", .end, .flush, .closingAfterFlush(since: s), reads: false),
            Row("idle", .end, .nothing, .idle(since: 0)),
            Row("streaming", .shutdown, .flush, .closingAfterFlush(since: s), reads: false),
            Row("streamEnded", .queue(0), .shutdownWrite, .lingering(deadline: 3 * s), reads: true),
            Row("streamEnded", .eof, .nothing, .closingAfterFlush(since: 0)),
        ]
        for row in rows {
            var m = Self.make(row.state)
            let readBefore = m.wantsRead
            XCTAssertEqual(Self.apply(row.event, to: &m), row.action, "\(row.state) + \(row.event)", line: row.line)
            XCTAssertEqual(m.state, row.after, "\(row.state) + \(row.event)", line: row.line)
            XCTAssertEqual(m.wantsRead, row.reads ?? (row.after == .closed ? false : readBefore), "reads after \(row.state) + \(row.event)", line: row.line)
        }
    }

    func testCutOffDropsTheDrainWatch() {
        var m = Self.make("streamingWatched")
        XCTAssertEqual(m.liveSend(queued: 101), .cutOff)
        m.cutOff()
        XCTAssertNil(m.drainWatch)
        XCTAssertEqual(m.queueChanged(bytes: 0, now: Self.s), .nothing, "no drain notice after a cut-off")
    }

    func testDeadlineIsTheNextHeartbeatAndNoneWithoutHeartbeats() {
        XCTAssertEqual(Self.make("streaming").deadline, 5 * Self.s)
        var quiet = Machine(configuration: .init(headerTimeout: 10 * Self.s, idleTimeout: 120 * Self.s, sendQueueLimit: 100), now: 0)
        _ = quiet.requestReceived(keepAlive: true)
        _ = quiet.streamReady(now: 0)
        XCTAssertNil(quiet.deadline)
        XCTAssertEqual(quiet.timerFired(now: 1000 * Self.s), .nothing)
    }

    /// A whole stream: opened, heartbeats, a paced replay waits for the drain, the client goes.
    func testStreamLifecycle() {
        let s = Self.s
        var m = Self.make("responding")
        XCTAssertEqual(m.streamReady(now: s), .writeStreamHead(open: true))
        XCTAssertTrue(m.wantsRead)
        XCTAssertEqual(m.notifyWhenDrained(below: 25, queued: 400), .nothing)
        XCTAssertEqual(m.queueChanged(bytes: 200, now: 2 * s), .nothing)
        XCTAssertEqual(m.timerFired(now: 6 * s), .sendHeartbeat)
        XCTAssertEqual(m.queueChanged(bytes: 10, now: 7 * s), .notifyDrained)
        XCTAssertEqual(m.queueChanged(bytes: 0, now: 7 * s), .nothing, "one notice per watch")
        XCTAssertTrue(m.wantsRead)
        XCTAssertEqual(m.peerClosedInput(), .close)
        XCTAssertEqual(m.state, .closed)
    }
}
