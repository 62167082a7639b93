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

    static func apply(_ event: Event, to m: inout Machine) -> [A] {
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
        let actions: [A]
        let after: Machine.State
        let line: UInt
        init(_ state: String, _ event: Event, _ actions: [A], _ after: Machine.State, line: UInt = #line) {
            (self.state, self.event, self.actions, self.after, self.line) = (state, event, actions, after, line)
        }
    }

    func testTransitionTable() {
        let s = Self.s
        let t408 = A.writeError(status: 408, message: "request not received in time")
        let rows: [Row] = [
            // head with Expect: 100-continue: answered only while a request may be parsed
            Row("idle", .head, [.sendContinue], .idle(since: 0)),
            Row("receiving", .head, [.sendContinue], .receiving(since: 0)),
            Row("responding", .head, [], .responding(closeAfter: false)),
            Row("respondingLast", .head, [], .responding(closeAfter: true)),
            Row("closingAfterFlush", .head, [], .closingAfterFlush(since: 0)),
            Row("lingering", .head, [], .lingering(deadline: 2 * s)),
            Row("closed", .head, [], .closed),
            // a complete keep-alive request: dispatched, reads paused while it is answered
            Row("idle", .request(keepAlive: true), [.pauseReading, .dispatch], .responding(closeAfter: false)),
            Row("receiving", .request(keepAlive: true), [.pauseReading, .dispatch], .responding(closeAfter: false)),
            Row("responding", .request(keepAlive: true), [], .responding(closeAfter: false)),
            Row("respondingLast", .request(keepAlive: true), [], .responding(closeAfter: true)),
            Row("closingAfterFlush", .request(keepAlive: true), [], .closingAfterFlush(since: 0)),
            Row("lingering", .request(keepAlive: true), [], .lingering(deadline: 2 * s)),
            Row("closed", .request(keepAlive: true), [], .closed),
            // Connection: close
            Row("idle", .request(keepAlive: false), [.pauseReading, .dispatch], .responding(closeAfter: true)),
            Row("receiving", .request(keepAlive: false), [.pauseReading, .dispatch], .responding(closeAfter: true)),
            Row("respondingLast", .request(keepAlive: false), [], .responding(closeAfter: true)),
            Row("closingAfterFlush", .request(keepAlive: false), [], .closingAfterFlush(since: 0)),
            // the parser needs more bytes, part of a request buffered
            Row("idle", .inputNeeded(mid: true), [], .receiving(since: s)),
            Row("receiving", .inputNeeded(mid: true), [], .receiving(since: 0)),
            Row("responding", .inputNeeded(mid: true), [], .responding(closeAfter: false)),
            Row("respondingLast", .inputNeeded(mid: true), [], .responding(closeAfter: true)),
            Row("closingAfterFlush", .inputNeeded(mid: true), [], .closingAfterFlush(since: 0)),
            Row("lingering", .inputNeeded(mid: true), [], .lingering(deadline: 2 * s)),
            Row("closed", .inputNeeded(mid: true), [], .closed),
            // …nothing buffered
            Row("idle", .inputNeeded(mid: false), [], .idle(since: 0)),
            Row("receiving", .inputNeeded(mid: false), [], .idle(since: s)),
            Row("responding", .inputNeeded(mid: false), [], .responding(closeAfter: false)),
            Row("closingAfterFlush", .inputNeeded(mid: false), [], .closingAfterFlush(since: 0)),
            Row("closed", .inputNeeded(mid: false), [], .closed),
            // parse error (or a refused upgrade): error response, then close
            Row("idle", .failed, [.pauseReading, .writeError(status: 400, message: "bad"), .flush], .closingAfterFlush(since: s)),
            Row("receiving", .failed, [.pauseReading, .writeError(status: 400, message: "bad"), .flush], .closingAfterFlush(since: s)),
            Row("responding", .failed, [.writeError(status: 400, message: "bad"), .flush], .closingAfterFlush(since: s)),
            Row("respondingLast", .failed, [.writeError(status: 400, message: "bad"), .flush], .closingAfterFlush(since: s)),
            Row("closingAfterFlush", .failed, [], .closingAfterFlush(since: 0)),
            Row("lingering", .failed, [], .lingering(deadline: 2 * s)),
            Row("closed", .failed, [], .closed),
            // EOF: stop reading (no RDHUP spin), finish what is buffered or in flight
            Row("idle", .eof, [.pauseReading, .parseNext], .idle(since: 0)),
            Row("receiving", .eof, [.pauseReading, .parseNext], .receiving(since: 0)),
            Row("responding", .eof, [], .responding(closeAfter: false)),
            Row("respondingLast", .eof, [], .responding(closeAfter: true)),
            Row("closingAfterFlush", .eof, [], .closingAfterFlush(since: 0)),
            Row("lingering", .eof, [.close], .closed),
            Row("closed", .eof, [], .closed),
            // socket error / full hang-up
            Row("idle", .socketError, [.close], .closed),
            Row("receiving", .socketError, [.close], .closed),
            Row("responding", .socketError, [.close], .closed),
            Row("closingAfterFlush", .socketError, [.close], .closed),
            Row("lingering", .socketError, [.close], .closed),
            Row("closed", .socketError, [], .closed),
            // the application's response
            Row("idle", .response, [], .idle(since: 0)),
            Row("receiving", .response, [], .receiving(since: 0)),
            Row("responding", .response, [.resumeReading, .writeResponse(keepAlive: true), .parseNext], .idle(since: s)),
            Row("respondingLast", .response, [.writeResponse(keepAlive: false), .flush], .closingAfterFlush(since: s)),
            Row("closingAfterFlush", .response, [], .closingAfterFlush(since: 0)),
            Row("lingering", .response, [], .lingering(deadline: 2 * s)),
            Row("closed", .response, [], .closed),
            // the send queue is empty
            Row("idle", .queue(0), [], .idle(since: 0)),
            Row("receiving", .queue(0), [], .receiving(since: 0)),
            Row("responding", .queue(0), [], .responding(closeAfter: false)),
            Row("closingAfterFlush", .queue(0), [.resumeReading, .shutdownWrite], .lingering(deadline: 3 * s)),
            Row("lingering", .queue(0), [], .lingering(deadline: 2 * s)),
            Row("closed", .queue(0), [], .closed),
            // the send queue went over its limit
            Row("idle", .queue(101), [.pauseReading], .idle(since: 0)),
            Row("receiving", .queue(101), [.pauseReading], .receiving(since: 0)),
            Row("responding", .queue(101), [], .responding(closeAfter: false)),
            Row("closingAfterFlush", .queue(101), [], .closingAfterFlush(since: 0)),
            Row("lingering", .queue(101), [], .lingering(deadline: 2 * s)),
            Row("closed", .queue(101), [], .closed),
            // a timer tick before any deadline
            Row("idle", .timer(s), [], .idle(since: 0)),
            Row("receiving", .timer(s), [], .receiving(since: 0)),
            Row("responding", .timer(s), [], .responding(closeAfter: false)),
            Row("closingAfterFlush", .timer(s), [], .closingAfterFlush(since: 0)),
            Row("lingering", .timer(s), [], .lingering(deadline: 2 * s)),
            Row("closed", .timer(s), [], .closed),
            // …and long after every deadline: idle timeout, 408, stuck final write, linger end
            Row("idle", .timer(500 * s), [.close], .closed),
            Row("receiving", .timer(500 * s), [.pauseReading, t408, .flush], .closingAfterFlush(since: 500 * s)),
            Row("responding", .timer(500 * s), [], .responding(closeAfter: false)),
            Row("closingAfterFlush", .timer(500 * s), [.close], .closed),
            Row("lingering", .timer(500 * s), [.close], .closed),
            Row("closed", .timer(500 * s), [], .closed),
            // SIGTERM: idle closes now, busy ones after their response
            Row("idle", .shutdown, [.close], .closed),
            Row("receiving", .shutdown, [], .receiving(since: 0)),
            Row("responding", .shutdown, [], .responding(closeAfter: true)),
            Row("respondingLast", .shutdown, [], .responding(closeAfter: true)),
            Row("closingAfterFlush", .shutdown, [], .closingAfterFlush(since: 0)),
            Row("lingering", .shutdown, [.close], .closed),
            Row("closed", .shutdown, [], .closed),
        ]
        for row in rows {
            var m = Self.make(row.state)
            let actions = Self.apply(row.event, to: &m)
            XCTAssertEqual(actions, row.actions, "\(row.state) + \(row.event)", line: row.line)
            XCTAssertEqual(m.state, row.after, "\(row.state) + \(row.event)", line: row.line)
        }
    }
}
