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

    /// An idle WebSocket's `Connection` fits glibc's 240-byte chunk (232 usable bytes): one
    /// field more, or one out of order, moves every connection to the next size. The instance
    /// size is read from the class metadata (Swift ABI without Objective-C interop: kind,
    /// superclass, flags, instance address point, then the size as a UInt32 at offset 24).
    func testConnectionFitsItsAllocation() {
        let metadata = unsafeBitCast(Connection.self as AnyClass, to: UnsafeRawPointer.self)
        let instanceSize = metadata.load(fromByteOffset: 24, as: UInt32.self)
        XCTAssertGreaterThan(instanceSize, 16 + UInt32(MemoryLayout<Connection.Driver>.size), "read the size field")
        XCTAssertLessThanOrEqual(instanceSize, 232)
    }
}
