import XCTest
@testable import SBHTTP

/// Comma-separated header lists read as bytes (Connection, Upgrade), against the String-based
/// reading they replace: split at commas, trim spaces and tabs, compare lowercased.
final class HeaderListTests: XCTestCase {
    func testElementsAreSplitAndTrimmedLikeTheStringReading() {
        let values = ["", ",", "keep-alive", " Upgrade ,\tkeep-alive", "a,,b", "\t close\t", "up grade", "websocket, h2c", "WebSocket",
                      "x,websocket", "websocketx", "é, upgrade"]
        for value in values {
            var elements: [String] = []
            HeaderList.forEachElement(value) { elements.append(String(decoding: $0, as: UTF8.self)) }
            let expected = value.split(separator: ",", omittingEmptySubsequences: false).map { element in
                String(element.drop { $0 == " " || $0 == "\t" }.reversed().drop { $0 == " " || $0 == "\t" }.reversed())
            }
            XCTAssertEqual(elements, expected, value)
            for token in ["upgrade", "websocket", "keep-alive", "close"] {
                XCTAssertEqual(HeaderList.contains(value, token: Array(token.utf8)), expected.contains { $0.lowercased() == token }, "\(value) / \(token)")
            }
        }
    }

    func testRequestFlagsFromListValuedHeaders() {
        let headers = HTTPHeaders([("Connection", "keep-alive, Upgrade"), ("Upgrade", "h2c, WebSocket")])
        let head = HTTPRequestHead(method: .get, target: "/ws", versionMinor: 1, headers: headers)
        XCTAssertTrue(head.isWebSocketUpgrade)
        XCTAssertTrue(head.keepAlive)
        let closing = HTTPHeaders([("connection", "upgradex,\tCLOSE "), ("upgrade", "websocket")])
        let closed = HTTPRequestHead(method: .get, target: "/ws", versionMinor: 1, headers: closing)
        XCTAssertFalse(closed.isWebSocketUpgrade, "upgradex is not upgrade")
        XCTAssertFalse(closed.keepAlive)
    }
}
