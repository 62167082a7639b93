import XCTest
@testable import SBServer

/// The per-connection sizes the comments give (idle memory per connection).
final class StateMachineLayoutTests: XCTestCase {
    func testWebSocketMachineIsAsSmallAsItsCommentSays() {
        XCTAssertLessThanOrEqual(MemoryLayout<WebSocketConnectionStateMachine>.size, 41)
    }

    /// An idle WebSocket's protocol state is its driver, held inline in `Connection`: no
    /// allocation of its own, and no larger than the optional machine (41 bytes) and the mode
    /// enum (71) it replaced, which together took 112 bytes plus padding.
    func testDriverIsHeldInlineInNoMoreThanItReplaced() {
        XCTAssertLessThanOrEqual(MemoryLayout<Connection.Driver>.size, 114)
        XCTAssertEqual(MemoryLayout<Connection.Driver>.size, MemoryLayout<WebSocketDriver>.size,
                       "the WebSocket driver is the largest payload and lends the enum its tag")
    }
}
