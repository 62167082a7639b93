import XCTest
@testable import SBServer

/// The per-connection sizes the state machines' comments give (idle memory per connection).
final class StateMachineLayoutTests: XCTestCase {
    func testWebSocketMachineIsAsSmallAsItsCommentSays() {
        XCTAssertLessThanOrEqual(MemoryLayout<WebSocketConnectionStateMachine>.size, 41)
    }
}
