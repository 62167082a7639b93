import XCTest
import SBCore
@testable import SBServer

/// Sequences through the HTTP machine: the ones the connection bugs were made of, and the
/// ones the table cannot show (flags that persist across events, deadlines).
final class HTTPConnectionScenarioTests: XCTestCase {
    typealias A = HTTPConnectionStateMachine.Action
    let s = HTTPConnectionStateMachineTests.s

    func testKeepAlivePipelineAnswersOneRequestAtATime() {
        var m = HTTPConnectionStateMachineTests.fresh()
        XCTAssertTrue(m.mayParse)
        XCTAssertEqual(m.requestReceived(keepAlive: true), [.pauseReading, .dispatch])
        XCTAssertFalse(m.mayParse, "the next pipelined request waits for this response")
        XCTAssertEqual(m.requestReceived(keepAlive: true), [], "a second request is never dispatched early")
        XCTAssertEqual(m.responseReady(now: s), [.resumeReading, .writeResponse(keepAlive: true), .parseNext])
        XCTAssertTrue(m.mayParse)
        XCTAssertEqual(m.requestReceived(keepAlive: true), [.pauseReading, .dispatch])
    }

    /// Bug: a request pipelined behind `Connection: close` was executed.
    func testNothingIsParsedAfterConnectionClose() {
        var m = HTTPConnectionStateMachineTests.fresh()
        _ = m.requestReceived(keepAlive: false)
        XCTAssertEqual(m.responseReady(now: s), [.writeResponse(keepAlive: false), .flush])
        XCTAssertFalse(m.mayParse)
        XCTAssertEqual(m.headReceived(expectsContinue: true), [], "no 100-continue for a request never run")
        XCTAssertEqual(m.requestReceived(keepAlive: true), [])
        XCTAssertEqual(m.queueChanged(bytes: 0, now: 2 * s), [.resumeReading, .shutdownWrite])
        XCTAssertTrue(m.isLingering, "after the last response, input is only drained")
        XCTAssertEqual(m.peerClosedInput(), [.close])
    }

    /// Bug: reads paused by a full send queue were never resumed.
    func testBackpressureStopsParsingAndResumesAtLowWater() {
        var m = HTTPConnectionStateMachineTests.fresh()
        _ = m.requestReceived(keepAlive: true)
        _ = m.responseReady(now: s)
        XCTAssertEqual(m.queueChanged(bytes: 150, now: s), [.pauseReading])
        XCTAssertTrue(m.backpressured)
        XCTAssertFalse(m.mayParse, "buffered requests wait too: the queue stays bounded")
        XCTAssertEqual(m.queueChanged(bytes: 90, now: s), [], "still above the low-water mark")
        XCTAssertEqual(m.queueChanged(bytes: 25, now: s), [.resumeReading, .parseNext])
        XCTAssertTrue(m.mayParse)
        XCTAssertEqual(m.queueChanged(bytes: 0, now: s), [])
    }

    /// Bug: a half-closed client waiting for an asynchronous response made the loop spin.
    func testHalfCloseWhileRespondingAnswersThenCloses() {
        var m = HTTPConnectionStateMachineTests.fresh()
        _ = m.requestReceived(keepAlive: true)
        XCTAssertFalse(m.reading)
        XCTAssertEqual(m.peerClosedInput(), [], "reads stay off: nothing polls the half-closed socket")
        XCTAssertEqual(m.responseReady(now: s), [.writeResponse(keepAlive: true), .parseNext])
        XCTAssertFalse(m.reading, "never read again after EOF")
        XCTAssertEqual(m.inputNeeded(midRequest: false, now: s), [.flush])
        XCTAssertEqual(m.state, .closingAfterFlush(since: s))
        XCTAssertEqual(m.queueChanged(bytes: 0, now: s), [.close], "the peer already sent EOF: no lingering")
    }

    func testHalfCloseWithPipelinedRequestsAnswersEachOfThem() {
        var m = HTTPConnectionStateMachineTests.fresh()
        XCTAssertEqual(m.peerClosedInput(), [.pauseReading, .parseNext])
        XCTAssertEqual(m.requestReceived(keepAlive: true), [.dispatch])
        XCTAssertEqual(m.responseReady(now: s), [.writeResponse(keepAlive: true), .parseNext])
        XCTAssertEqual(m.requestReceived(keepAlive: true), [.dispatch], "the second buffered request is answered too")
        _ = m.responseReady(now: s)
        XCTAssertEqual(m.inputNeeded(midRequest: true, now: s), [.flush], "an incomplete one never will be")
    }

    func testContinueOnlyWhenAsked() {
        var m = HTTPConnectionStateMachineTests.fresh()
        XCTAssertEqual(m.headReceived(expectsContinue: false), [])
        XCTAssertEqual(m.headReceived(expectsContinue: true), [.sendContinue])
    }

    func testHeaderTimeoutRunsFromTheFirstByteOfTheRequest() {
        var m = HTTPConnectionStateMachineTests.fresh()
        _ = m.inputNeeded(midRequest: true, now: 5 * s)
        XCTAssertEqual(m.deadline, 15 * s)
        XCTAssertEqual(m.timerFired(now: 15 * s - 1), [])
        XCTAssertEqual(m.timerFired(now: 15 * s), [.pauseReading, .writeError(status: 408, message: "request not received in time"), .flush],
                       "reading stops, the 408 is written and flushed: every action, in order")
    }

    func testIdleTimeoutRunsFromTheLastResponse() {
        var m = HTTPConnectionStateMachineTests.fresh()
        _ = m.requestReceived(keepAlive: true)
        XCTAssertNil(m.deadline, "the application's time is not ours to limit")
        _ = m.responseReady(now: 100 * s)
        XCTAssertEqual(m.deadline, 220 * s)
        XCTAssertEqual(m.timerFired(now: 219 * s), [])
        XCTAssertEqual(m.timerFired(now: 220 * s), [.close])
    }

    func testShutdownDrainsInFlightRequestsWithConnectionClose() {
        var receiving = HTTPConnectionStateMachineTests.fresh()
        _ = receiving.inputNeeded(midRequest: true, now: 0)
        XCTAssertEqual(receiving.shutdownRequested(now: s), [])
        XCTAssertEqual(receiving.requestReceived(keepAlive: true), [.pauseReading, .dispatch])
        XCTAssertEqual(receiving.responseReady(now: s), [.writeResponse(keepAlive: false), .flush],
                       "a request arriving during shutdown is answered, then the connection closes")

        var idleWithBytes = HTTPConnectionStateMachineTests.fresh()
        _ = idleWithBytes.requestReceived(keepAlive: true)
        _ = idleWithBytes.responseReady(now: 0)
        _ = idleWithBytes.queueChanged(bytes: 10, now: 0)
        XCTAssertEqual(idleWithBytes.shutdownRequested(now: s), [.pauseReading, .flush],
                       "a response still being written is finished first")
        XCTAssertEqual(idleWithBytes.queueChanged(bytes: 0, now: s), [.resumeReading, .shutdownWrite])
    }

    func testUpgradeRefusalClosesAfterTheResponse() {
        var m = HTTPConnectionStateMachineTests.fresh()
        _ = m.requestReceived(keepAlive: true)
        XCTAssertEqual(m.responseReady(now: s, forceClose: true), [.writeResponse(keepAlive: false), .flush])
    }

    func testWarningLimiterLogsOncePerIntervalAndCountsTheRest() {
        var limiter = WarningLimiter(interval: 10 * s)
        XCTAssertEqual(limiter.admit(.descriptorsExhausted, now: 0), 0)
        XCTAssertNil(limiter.admit(.descriptorsExhausted, now: s))
        XCTAssertNil(limiter.admit(.descriptorsExhausted, now: 9 * s))
        XCTAssertEqual(limiter.admit(.maxConnections, now: 9 * s), 0, "kinds are limited separately")
        XCTAssertEqual(limiter.admit(.descriptorsExhausted, now: 10 * s), 2, "the next line says how many were dropped")
        XCTAssertNil(limiter.admit(.descriptorsExhausted, now: 11 * s))
        XCTAssertNil(limiter.admit(.descriptorsExhausted, now: 9 * s), "a clock read before a shared limiter's lock can be earlier than the last line")
    }
}
