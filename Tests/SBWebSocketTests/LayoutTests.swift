import XCTest
@testable import SBWebSocket

/// The sizes WebSocketReader's comments give (a reader lives in every WebSocket connection).
final class WebSocketReaderLayoutTests: XCTestCase {
    func testReaderAndFrameStayAsSmallAsTheirCommentsSay() {
        XCTAssertLessThanOrEqual(MemoryLayout<WebSocketReader.Frame>.stride, 16)
        XCTAssertLessThanOrEqual(MemoryLayout<WebSocketReader>.size, 56)
    }
}
