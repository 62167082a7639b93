import XCTest
@testable import SBServer

/// Every state of the WebSocket connection machine against every event, then the close
/// handshake, cut-off, paced replay and heartbeat sequences. No socket, no clock.
final class WebSocketConnectionStateMachineTests: XCTestCase {
    typealias Machine = WebSocketConnectionStateMachine
    typealias A = WebSocketConnectionStateMachine.Action
    static let s: UInt64 = 1_000_000_000

    static func fresh() -> Machine {
        Machine(configuration: .init(closeTimeout: 3 * s, silenceLimit: 60 * s, sendQueueLimit: 100), now: 0)
    }

    static func make(_ name: String) -> Machine {
        var m = fresh()
        switch name {
        case "open": break
        case "closeSent": _ = m.closeRequested(code: 1000, reason: "bye", now: 0)
        case "closing": _ = m.closeReceived(code: 1000, now: 0)
        case "closed": _ = m.peerGone()
        case "cutOff": m.cutOff(now: 0)
        default: fatalError(name)
        }
        return m
    }

    enum Event {
        case message, ping, pong, close, protocolError, peerGone, closeRequested
        case liveSend(queued: Int), replaySend, notify(queued: Int), queue(Int), heartbeat(UInt64), timer(UInt64)
    }

    static func apply(_ event: Event, to m: inout Machine) -> A {
        let now = s
        switch event {
        case .message: return m.messageReceived()
        case .ping: return m.pingReceived()
        case .pong: m.pongReceived(now: now); return .nothing
        case .close: return m.closeReceived(code: 1000, now: now)
        case .protocolError: return m.protocolError(code: 1002, reason: "bad frame", now: now)
        case .peerGone: return m.peerGone()
        case .closeRequested: return m.closeRequested(code: 1001, reason: "going away", now: now)
        case .liveSend(let queued):
            // The connection records a cut-off the (non-mutating) check decided.
            let action = m.liveSend(queued: queued)
            if action == .cutOff { m.cutOff(now: now) }
            return action
        case .replaySend: return m.replaySend()
        case .notify(let queued): return m.notifyWhenDrained(below: 50, queued: queued)
        case .queue(let bytes): return m.queueChanged(bytes: bytes)
        case .heartbeat(let at): return m.heartbeat(now: at)
        case .timer(let at): return m.timerFired(now: at)
        }
    }

    /// Reading stops once the close is settled, never before: a cut-off client stays readable
    /// so that its unread input does not turn our close into a reset.
    func testReadsUntilTheCloseIsSettled() {
        let reads = ["open": true, "closeSent": true, "cutOff": true, "closing": false, "closed": false]
        for (name, expected) in reads {
            XCTAssertEqual(Self.make(name).wantsRead, expected, name)
        }
    }

    func testTransitionTable() {
        let s = Self.s
        let rows: [(String, Event, A, Machine.State, UInt)] = [
            ("open", .message, .deliver, .open, #line),
            ("closeSent", .message, .nothing, .closeSent(since: 0), #line),
            ("closing", .message, .nothing, .closing(since: 0), #line),
            ("closed", .message, .nothing, .closed, #line),
            ("open", .ping, .sendPong, .open, #line),
            ("closeSent", .ping, .nothing, .closeSent(since: 0), #line),
            ("closing", .ping, .nothing, .closing(since: 0), #line),
            ("closed", .ping, .nothing, .closed, #line),
            ("open", .pong, .nothing, .open, #line),
            ("closeSent", .pong, .nothing, .closeSent(since: 0), #line),
            ("closing", .pong, .nothing, .closing(since: 0), #line),
            ("closed", .pong, .nothing, .closed, #line),
            // the peer's close: echoed once, then closed when written
            ("open", .close, .sendClose(code: 1000, reason: ""), .closing(since: s), #line),
            ("closeSent", .close, .flush, .closing(since: s), #line),
            ("closing", .close, .nothing, .closing(since: 0), #line),
            ("closed", .close, .nothing, .closed, #line),
            ("open", .protocolError, .sendClose(code: 1002, reason: "bad frame"), .closing(since: s), #line),
            ("closeSent", .protocolError, .flush, .closing(since: s), #line),
            ("closing", .protocolError, .nothing, .closing(since: 0), #line),
            ("closed", .protocolError, .nothing, .closed, #line),
            ("open", .peerGone, .close, .closed, #line),
            ("closeSent", .peerGone, .close, .closed, #line),
            ("closing", .peerGone, .close, .closed, #line),
            ("closed", .peerGone, .nothing, .closed, #line),
            // our close (application, or shutdown with 1001)
            ("open", .closeRequested, .sendClose(code: 1001, reason: "going away"), .closeSent(since: s), #line),
            ("closeSent", .closeRequested, .nothing, .closeSent(since: 0), #line),
            ("closing", .closeRequested, .nothing, .closing(since: 0), #line),
            ("closed", .closeRequested, .nothing, .closed, #line),
            // live sends: within budget, over it (cut off), after close
            ("open", .liveSend(queued: 100), .send, .open, #line),
            ("open", .liveSend(queued: 101), .cutOff, .cutOff(since: s), #line),
            ("cutOff", .liveSend(queued: 0), .nothing, .cutOff(since: 0), #line),
            // cut off: nothing more delivered or answered; the peer's close or EOF ends it as
            // usual, our queue draining does not (the peer must read it), the timeout aborts
            ("cutOff", .message, .nothing, .cutOff(since: 0), #line),
            ("cutOff", .ping, .nothing, .cutOff(since: 0), #line),
            ("cutOff", .close, .flush, .closing(since: s), #line),
            ("cutOff", .protocolError, .flush, .closing(since: s), #line),
            ("cutOff", .peerGone, .close, .closed, #line),
            ("cutOff", .closeRequested, .nothing, .cutOff(since: 0), #line),
            ("cutOff", .replaySend, .nothing, .cutOff(since: 0), #line),
            ("cutOff", .notify(queued: 0), .nothing, .cutOff(since: 0), #line),
            ("cutOff", .queue(0), .nothing, .cutOff(since: 0), #line),
            ("cutOff", .heartbeat(61 * s), .nothing, .cutOff(since: 0), #line),
            ("cutOff", .timer(2 * s), .nothing, .cutOff(since: 0), #line),
            ("cutOff", .timer(3 * s), .abort, .closed, #line),
            ("closeSent", .liveSend(queued: 0), .nothing, .closeSent(since: 0), #line),
            ("closing", .liveSend(queued: 0), .nothing, .closing(since: 0), #line),
            ("closed", .liveSend(queued: 0), .nothing, .closed, #line),
            ("open", .replaySend, .send, .open, #line),
            ("closeSent", .replaySend, .nothing, .closeSent(since: 0), #line),
            ("closing", .replaySend, .nothing, .closing(since: 0), #line),
            ("closed", .replaySend, .nothing, .closed, #line),
            // notifyWhenDrained: at once when already below, else later
            ("open", .notify(queued: 50), .notifyDrained, .open, #line),
            ("open", .notify(queued: 51), .nothing, .open, #line),
            ("closeSent", .notify(queued: 0), .nothing, .closeSent(since: 0), #line),
            ("closing", .notify(queued: 0), .nothing, .closing(since: 0), #line),
            ("closed", .notify(queued: 0), .nothing, .closed, #line),
            // the queue drained
            ("open", .queue(0), .nothing, .open, #line),
            ("closeSent", .queue(0), .nothing, .closeSent(since: 0), #line),
            ("closing", .queue(0), .close, .closed, #line),
            ("closing", .queue(10), .nothing, .closing(since: 0), #line),
            ("closed", .queue(0), .nothing, .closed, #line),
            // heartbeat: ping, or drop after two silent intervals
            ("open", .heartbeat(30 * s), .sendPing, .open, #line),
            ("open", .heartbeat(61 * s), .close, .closed, #line),
            ("closeSent", .heartbeat(61 * s), .nothing, .closeSent(since: 0), #line),
            ("closing", .heartbeat(61 * s), .nothing, .closing(since: 0), #line),
            ("closed", .heartbeat(61 * s), .nothing, .closed, #line),
            // close handshake timeout
            ("open", .timer(10 * s), .nothing, .open, #line),
            ("closeSent", .timer(2 * s), .nothing, .closeSent(since: 0), #line),
            ("closeSent", .timer(3 * s), .close, .closed, #line),
            ("closing", .timer(2 * s), .nothing, .closing(since: 0), #line),
            ("closing", .timer(3 * s), .close, .closed, #line),
            ("closed", .timer(10 * s), .nothing, .closed, #line),
        ]
        for (state, event, action, after, line) in rows {
            var m = Self.make(state)
            XCTAssertEqual(Self.apply(event, to: &m), action, "\(state) + \(event)", line: line)
            XCTAssertEqual(m.state, after, "\(state) + \(event)", line: line)
        }
    }

    func testCloseHandshakeWeStart() {
        var m = Self.fresh()
        XCTAssertEqual(m.closeRequested(code: 1001, reason: "server shutting down", now: 0),
                       .sendClose(code: 1001, reason: "server shutting down"))
        XCTAssertEqual(m.queueChanged(bytes: 0), .nothing, "our close is out: wait for the peer's")
        XCTAssertEqual(m.messageReceived(), .nothing, "messages after our close are not delivered")
        XCTAssertEqual(m.closeReceived(code: 1001, now: Self.s), .flush, "no second close frame")
        XCTAssertFalse(m.wantsRead)
        XCTAssertEqual(m.queueChanged(bytes: 0), .close)
    }

    func testCloseWithoutCodeIsEchoedWithoutCode() {
        var m = Self.fresh()
        XCTAssertEqual(m.closeReceived(code: nil, now: 0), .sendClose(code: nil, reason: ""))
    }

    func testReplayIsNeverCutOffButLiveSendsStillAre() {
        var m = Self.fresh()
        XCTAssertEqual(m.replaySend(), .send, "a replay page is paced, not budgeted")
        XCTAssertEqual(m.notifyWhenDrained(below: 50, queued: 10_000), .nothing)
        XCTAssertEqual(m.drainWatch, 50)
        XCTAssertEqual(m.queueChanged(bytes: 5_000), .nothing)
        XCTAssertEqual(m.queueChanged(bytes: 50), .notifyDrained)
        XCTAssertNil(m.drainWatch)
        XCTAssertEqual(m.queueChanged(bytes: 0), .nothing, "one notification per request")
        XCTAssertEqual(m.liveSend(queued: 10_000), .cutOff,
                       "a live message arriving while the queue is over the limit cuts the client off")
    }

    func testHeartbeatCountsAnyBytesAsAlive() {
        var m = Self.fresh()
        m.bytesReceived(now: 50 * Self.s)
        XCTAssertEqual(m.heartbeat(now: 100 * Self.s), .sendPing)
        m.pongReceived(now: 120 * Self.s)
        XCTAssertEqual(m.heartbeat(now: 180 * Self.s), .sendPing)
        XCTAssertEqual(m.heartbeat(now: 181 * Self.s), .close)
    }
}
