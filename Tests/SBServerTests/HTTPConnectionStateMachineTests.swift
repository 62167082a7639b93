import XCTest
@testable import SBServer

/// Every state of the HTTP connection machine against every event, then the sequences the
/// connection bugs were made of. Times are passed in: no socket, no clock.
final class HTTPConnectionStateMachineTests: XCTestCase {
    typealias Machine = HTTPConnectionStateMachine
    typealias A = HTTPConnectionStateMachine.Action
    static let s: UInt64 = 1_000_000_000

    static func fresh() -> Machine {
        Machine(configuration: .init(headerTimeout: 10 * s, idleTimeout: 120 * s, lingerTimeout: 2 * s,
                                     sendQueueLimit: 100, lowWater: 25), now: 0)
    }

    /// Each state, reached by real events at t = 0.
    static func make(_ name: String) -> Machine {
        var m = fresh()
        switch name {
        case "idle": break
        case "receiving": _ = m.inputNeeded(midRequest: true, now: 0)
        case "responding": _ = m.requestReceived(keepAlive: true)
        case "respondingLast": _ = m.requestReceived(keepAlive: false)
        case "closingAfterFlush": _ = m.requestReceived(keepAlive: false); _ = m.responseReady(now: 0)
        case "lingering":
            _ = m.requestReceived(keepAlive: false); _ = m.responseReady(now: 0); _ = m.queueChanged(bytes: 0, now: 0)
        case "closed": _ = m.connectionFailed()
        default: fatalError(name)
        }
        return m
    }

    enum Event {
        case head, request(keepAlive: Bool), inputNeeded(mid: Bool), failed, eof, socketError
        case response, queue(Int), timer(UInt64), shutdown
    }

    static func apply(_ event: Event, to m: inout Machine) -> A {
        let now = s
        switch event {
        case .head: return m.headReceived(expectsContinue: true)
        case .request(let keepAlive): return m.requestReceived(keepAlive: keepAlive)
        case .inputNeeded(let mid): return m.inputNeeded(midRequest: mid, now: now)
        case .failed: return m.requestFailed(status: 400, message: "bad", now: now)
        case .eof: return m.peerClosedInput()
        case .socketError: return m.connectionFailed()
        case .response: return m.responseReady(now: now)
        case .queue(let bytes): return m.queueChanged(bytes: bytes, now: now)
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
        let t408 = A.writeError(status: 408, message: "request not received in time")
        let rows: [Row] = [
            // head with Expect: 100-continue: answered only while a request may be parsed
            Row("idle", .head, .sendContinue, .idle(since: 0)),
            Row("receiving", .head, .sendContinue, .receiving(since: 0)),
            Row("responding", .head, .nothing, .responding(closeAfter: false)),
            Row("respondingLast", .head, .nothing, .responding(closeAfter: true)),
            Row("closingAfterFlush", .head, .nothing, .closingAfterFlush(since: 0)),
            Row("lingering", .head, .nothing, .lingering(deadline: 2 * s)),
            Row("closed", .head, .nothing, .closed),
            // a complete keep-alive request: dispatched, reads paused while it is answered
            Row("idle", .request(keepAlive: true), .dispatch, .responding(closeAfter: false), reads: false),
            Row("receiving", .request(keepAlive: true), .dispatch, .responding(closeAfter: false), reads: false),
            Row("responding", .request(keepAlive: true), .nothing, .responding(closeAfter: false)),
            Row("respondingLast", .request(keepAlive: true), .nothing, .responding(closeAfter: true)),
            Row("closingAfterFlush", .request(keepAlive: true), .nothing, .closingAfterFlush(since: 0)),
            Row("lingering", .request(keepAlive: true), .nothing, .lingering(deadline: 2 * s)),
            Row("closed", .request(keepAlive: true), .nothing, .closed),
            // Connection: close
            Row("idle", .request(keepAlive: false), .dispatch, .responding(closeAfter: true), reads: false),
            Row("receiving", .request(keepAlive: false), .dispatch, .responding(closeAfter: true), reads: false),
            Row("respondingLast", .request(keepAlive: false), .nothing, .responding(closeAfter: true)),
            Row("closingAfterFlush", .request(keepAlive: false), .nothing, .closingAfterFlush(since: 0)),
            // the parser needs more bytes, part of a request buffered
            Row("idle", .inputNeeded(mid: true), .nothing, .receiving(since: s)),
            Row("receiving", .inputNeeded(mid: true), .nothing, .receiving(since: 0)),
            Row("responding", .inputNeeded(mid: true), .nothing, .responding(closeAfter: false)),
            Row("respondingLast", .inputNeeded(mid: true), .nothing, .responding(closeAfter: true)),
            Row("closingAfterFlush", .inputNeeded(mid: true), .nothing, .closingAfterFlush(since: 0)),
            Row("lingering", .inputNeeded(mid: true), .nothing, .lingering(deadline: 2 * s)),
            Row("closed", .inputNeeded(mid: true), .nothing, .closed),
            // …nothing buffered
            Row("idle", .inputNeeded(mid: false), .nothing, .idle(since: 0)),
            Row("receiving", .inputNeeded(mid: false), .nothing, .idle(since: s)),
            Row("responding", .inputNeeded(mid: false), .nothing, .responding(closeAfter: false)),
            Row("closingAfterFlush", .inputNeeded(mid: false), .nothing, .closingAfterFlush(since: 0)),
            Row("closed", .inputNeeded(mid: false), .nothing, .closed),
            // parse error (or a refused upgrade): error response, then close
            Row("idle", .failed, .writeError(status: 400, message: "bad"), .closingAfterFlush(since: s), reads: false),
            Row("receiving", .failed, .writeError(status: 400, message: "bad"), .closingAfterFlush(since: s), reads: false),
            Row("responding", .failed, .writeError(status: 400, message: "bad"), .closingAfterFlush(since: s)),
            Row("respondingLast", .failed, .writeError(status: 400, message: "bad"), .closingAfterFlush(since: s)),
            Row("closingAfterFlush", .failed, .nothing, .closingAfterFlush(since: 0)),
            Row("lingering", .failed, .nothing, .lingering(deadline: 2 * s)),
            Row("closed", .failed, .nothing, .closed),
            // EOF: stop reading (no RDHUP spin), finish what is buffered or in flight
            Row("idle", .eof, .parseNext, .idle(since: 0), reads: false),
            Row("receiving", .eof, .parseNext, .receiving(since: 0), reads: false),
            Row("responding", .eof, .nothing, .responding(closeAfter: false)),
            Row("respondingLast", .eof, .nothing, .responding(closeAfter: true)),
            Row("closingAfterFlush", .eof, .nothing, .closingAfterFlush(since: 0)),
            Row("lingering", .eof, .close, .closed),
            Row("closed", .eof, .nothing, .closed),
            // socket error / full hang-up
            Row("idle", .socketError, .close, .closed),
            Row("receiving", .socketError, .close, .closed),
            Row("responding", .socketError, .close, .closed),
            Row("closingAfterFlush", .socketError, .close, .closed),
            Row("lingering", .socketError, .close, .closed),
            Row("closed", .socketError, .nothing, .closed),
            // the application's response
            Row("idle", .response, .nothing, .idle(since: 0)),
            Row("receiving", .response, .nothing, .receiving(since: 0)),
            Row("responding", .response, .writeResponse(keepAlive: true), .idle(since: s), reads: true),
            Row("respondingLast", .response, .writeResponse(keepAlive: false), .closingAfterFlush(since: s)),
            Row("closingAfterFlush", .response, .nothing, .closingAfterFlush(since: 0)),
            Row("lingering", .response, .nothing, .lingering(deadline: 2 * s)),
            Row("closed", .response, .nothing, .closed),
            // the send queue is empty
            Row("idle", .queue(0), .nothing, .idle(since: 0)),
            Row("receiving", .queue(0), .nothing, .receiving(since: 0)),
            Row("responding", .queue(0), .nothing, .responding(closeAfter: false)),
            Row("closingAfterFlush", .queue(0), .shutdownWrite, .lingering(deadline: 3 * s), reads: true),
            Row("lingering", .queue(0), .nothing, .lingering(deadline: 2 * s)),
            Row("closed", .queue(0), .nothing, .closed),
            // the send queue went over its limit
            Row("idle", .queue(101), .nothing, .idle(since: 0), reads: false),
            Row("receiving", .queue(101), .nothing, .receiving(since: 0), reads: false),
            Row("responding", .queue(101), .nothing, .responding(closeAfter: false)),
            Row("closingAfterFlush", .queue(101), .nothing, .closingAfterFlush(since: 0)),
            Row("lingering", .queue(101), .nothing, .lingering(deadline: 2 * s)),
            Row("closed", .queue(101), .nothing, .closed),
            // a timer tick before any deadline
            Row("idle", .timer(s), .nothing, .idle(since: 0)),
            Row("receiving", .timer(s), .nothing, .receiving(since: 0)),
            Row("responding", .timer(s), .nothing, .responding(closeAfter: false)),
            Row("closingAfterFlush", .timer(s), .nothing, .closingAfterFlush(since: 0)),
            Row("lingering", .timer(s), .nothing, .lingering(deadline: 2 * s)),
            Row("closed", .timer(s), .nothing, .closed),
            // …and long after every deadline: idle timeout, 408, stuck final write, linger end
            Row("idle", .timer(500 * s), .close, .closed),
            Row("receiving", .timer(500 * s), t408, .closingAfterFlush(since: 500 * s), reads: false),
            Row("responding", .timer(500 * s), .nothing, .responding(closeAfter: false)),
            Row("closingAfterFlush", .timer(500 * s), .close, .closed),
            Row("lingering", .timer(500 * s), .close, .closed),
            Row("closed", .timer(500 * s), .nothing, .closed),
            // SIGTERM: idle closes now, busy ones after their response
            Row("idle", .shutdown, .close, .closed),
            Row("receiving", .shutdown, .nothing, .receiving(since: 0)),
            Row("responding", .shutdown, .nothing, .responding(closeAfter: true)),
            Row("respondingLast", .shutdown, .nothing, .responding(closeAfter: true)),
            Row("closingAfterFlush", .shutdown, .nothing, .closingAfterFlush(since: 0)),
            Row("lingering", .shutdown, .close, .closed),
            Row("closed", .shutdown, .nothing, .closed),
        ]
        for row in rows {
            var m = Self.make(row.state)
            let readBefore = m.wantsRead
            XCTAssertEqual(Self.apply(row.event, to: &m), row.action, "\(row.state) + \(row.event)", line: row.line)
            XCTAssertEqual(m.state, row.after, "\(row.state) + \(row.event)", line: row.line)
            XCTAssertEqual(m.wantsRead, row.reads ?? (row.after == .closed ? false : readBefore), "reads after \(row.state) + \(row.event)", line: row.line)
        }
    }
}
