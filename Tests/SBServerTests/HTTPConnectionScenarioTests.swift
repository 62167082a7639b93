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
        XCTAssertEqual(m.requestReceived(keepAlive: true), .dispatch)
        XCTAssertFalse(m.wantsRead)
        XCTAssertFalse(m.mayParse, "the next pipelined request waits for this response")
        XCTAssertEqual(m.requestReceived(keepAlive: true), .nothing, "a second request is never dispatched early")
        XCTAssertEqual(m.responseReady(now: s), .writeResponse(keepAlive: true))
        XCTAssertTrue(m.wantsRead)
        XCTAssertTrue(m.mayParse)
        XCTAssertEqual(m.requestReceived(keepAlive: true), .dispatch)
        XCTAssertFalse(m.wantsRead)
    }

    /// Bug: a request pipelined behind `Connection: close` was executed.
    func testNothingIsParsedAfterConnectionClose() {
        var m = HTTPConnectionStateMachineTests.fresh()
        _ = m.requestReceived(keepAlive: false)
        XCTAssertEqual(m.responseReady(now: s), .writeResponse(keepAlive: false))
        XCTAssertFalse(m.mayParse)
        XCTAssertEqual(m.headReceived(expectsContinue: true), .nothing, "no 100-continue for a request never run")
        XCTAssertEqual(m.requestReceived(keepAlive: true), .nothing)
        XCTAssertEqual(m.queueChanged(bytes: 0, now: 2 * s), .shutdownWrite)
        XCTAssertTrue(m.wantsRead)
        XCTAssertTrue(m.isLingering, "after the last response, input is only drained")
        XCTAssertEqual(m.peerClosedInput(), .close)
    }

    /// Bug: reads paused by a full send queue were never resumed.
    func testBackpressureStopsParsingAndResumesAtLowWater() {
        var m = HTTPConnectionStateMachineTests.fresh()
        _ = m.requestReceived(keepAlive: true)
        _ = m.responseReady(now: s)
        XCTAssertEqual(m.queueChanged(bytes: 150, now: s), .nothing)
        XCTAssertFalse(m.wantsRead)
        XCTAssertTrue(m.backpressured)
        XCTAssertFalse(m.mayParse, "buffered requests wait too: the queue stays bounded")
        XCTAssertEqual(m.queueChanged(bytes: 90, now: s), .nothing, "still above the low-water mark")
        XCTAssertEqual(m.queueChanged(bytes: 25, now: s), .parseNext)
        XCTAssertTrue(m.wantsRead)
        XCTAssertTrue(m.mayParse)
        XCTAssertEqual(m.queueChanged(bytes: 0, now: s), .nothing)
    }

    /// Bug: a half-closed client waiting for an asynchronous response made the loop spin.
    func testHalfCloseWhileRespondingAnswersThenCloses() {
        var m = HTTPConnectionStateMachineTests.fresh()
        _ = m.requestReceived(keepAlive: true)
        XCTAssertFalse(m.wantsRead)
        XCTAssertEqual(m.peerClosedInput(), .nothing, "reads stay off: nothing polls the half-closed socket")
        XCTAssertEqual(m.responseReady(now: s), .writeResponse(keepAlive: true))
        XCTAssertFalse(m.wantsRead, "never read again after EOF")
        XCTAssertEqual(m.inputNeeded(midRequest: false, now: s), .flush)
        XCTAssertEqual(m.state, .closingAfterFlush(since: s))
        XCTAssertEqual(m.queueChanged(bytes: 0, now: s), .close, "the peer already sent EOF: no lingering")
    }

    func testHalfCloseWithPipelinedRequestsAnswersEachOfThem() {
        var m = HTTPConnectionStateMachineTests.fresh()
        XCTAssertEqual(m.peerClosedInput(), .parseNext)
        XCTAssertFalse(m.wantsRead)
        XCTAssertEqual(m.requestReceived(keepAlive: true), .dispatch)
        XCTAssertEqual(m.responseReady(now: s), .writeResponse(keepAlive: true))
        XCTAssertEqual(m.requestReceived(keepAlive: true), .dispatch, "the second buffered request is answered too")
        _ = m.responseReady(now: s)
        XCTAssertEqual(m.inputNeeded(midRequest: true, now: s), .flush, "an incomplete one never will be")
    }

    func testContinueOnlyWhenAsked() {
        var m = HTTPConnectionStateMachineTests.fresh()
        XCTAssertEqual(m.headReceived(expectsContinue: false), .nothing)
        XCTAssertEqual(m.headReceived(expectsContinue: true), .sendContinue)
    }

    func testHeaderTimeoutRunsFromTheFirstByteOfTheRequest() {
        var m = HTTPConnectionStateMachineTests.fresh()
        _ = m.inputNeeded(midRequest: true, now: 5 * s)
        XCTAssertEqual(m.deadline, 15 * s)
        XCTAssertEqual(m.timerFired(now: 15 * s - 1), .nothing)
        XCTAssertEqual(m.timerFired(now: 15 * s), .writeError(status: 408, message: "request not received in time"),
                       "the 408 is written and flushed")
        XCTAssertFalse(m.wantsRead, "reading stops")
        XCTAssertEqual(m.state, .closingAfterFlush(since: 15 * s))
    }

    func testIdleTimeoutRunsFromTheLastResponse() {
        var m = HTTPConnectionStateMachineTests.fresh()
        _ = m.requestReceived(keepAlive: true)
        XCTAssertNil(m.deadline, "the application's time is not ours to limit")
        _ = m.responseReady(now: 100 * s)
        XCTAssertEqual(m.deadline, 220 * s)
        XCTAssertEqual(m.timerFired(now: 219 * s), .nothing)
        XCTAssertEqual(m.timerFired(now: 220 * s), .close)
    }

    func testShutdownDrainsInFlightRequestsWithConnectionClose() {
        var receiving = HTTPConnectionStateMachineTests.fresh()
        _ = receiving.inputNeeded(midRequest: true, now: 0)
        XCTAssertEqual(receiving.shutdownRequested(now: s), .nothing)
        XCTAssertEqual(receiving.requestReceived(keepAlive: true), .dispatch)
        XCTAssertFalse(receiving.wantsRead)
        XCTAssertEqual(receiving.responseReady(now: s), .writeResponse(keepAlive: false),
                       "a request arriving during shutdown is answered, then the connection closes")

        var idleWithBytes = HTTPConnectionStateMachineTests.fresh()
        _ = idleWithBytes.requestReceived(keepAlive: true)
        _ = idleWithBytes.responseReady(now: 0)
        _ = idleWithBytes.queueChanged(bytes: 10, now: 0)
        XCTAssertEqual(idleWithBytes.shutdownRequested(now: s), .flush,
                       "a response still being written is finished first")
        XCTAssertFalse(idleWithBytes.wantsRead)
        XCTAssertEqual(idleWithBytes.queueChanged(bytes: 0, now: s), .shutdownWrite)
        XCTAssertTrue(idleWithBytes.wantsRead, "lingering: input is read and discarded")
    }

    func testUpgradeRefusalClosesAfterTheResponse() {
        var m = HTTPConnectionStateMachineTests.fresh()
        _ = m.requestReceived(keepAlive: true)
        XCTAssertEqual(m.responseReady(now: s, forceClose: true), .writeResponse(keepAlive: false))
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
