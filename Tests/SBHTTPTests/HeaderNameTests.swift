import XCTest
@testable import SBHTTP

/// Header names come out lowercased whichever way they arrive; the common ones without a new
/// string, the rest with one.
final class HeaderNameTests: XCTestCase {
    func testKnownAndUnknownNamesAreLowercased() {
        for (raw, expected) in [("Host", "host"), ("CONTENT-LENGTH", "content-length"), ("content-type", "content-type"),
                                ("Sec-WebSocket-Key", "sec-websocket-key"), ("X-Custom-Thing", "x-custom-thing"),
                                ("A", "a"), ("Hos", "hos"), ("Hostx", "hostx"),
                                (String(repeating: "Z", count: 40), String(repeating: "z", count: 40))] {
            XCTAssertEqual(HeaderName.lowercased(ArraySlice(raw.utf8)), expected, raw)
        }
    }

    /// The next request or error, skipping the `.head` event that precedes each request.
    private func nextOutcome(_ parser: inout HTTPRequestParser) -> HTTPParserEvent? {
        while let event = parser.next() {
            if case .head = event { continue }
            return event
        }
        return nil
    }

    func testParsedHeadersAndFlags() throws {
        var parser = HTTPRequestParser(limits: HTTPLimits())
        parser.feed(Array("GET /a/b?x=1 HTTP/1.1\r\nHOST: h\r\nConnection:  Keep-Alive , UPGRADE \r\nUpgrade: websocket\r\nX-Odd-Name: v\r\n\r\n".utf8))
        guard case .request(let request)? = nextOutcome(&parser) else { return XCTFail("no request") }
        XCTAssertEqual(request.head.method, .get)
        XCTAssertEqual(request.head.path, "/a/b")
        XCTAssertEqual(request.head.queryValue("x"), "1")
        XCTAssertEqual(request.head.headers["host"], "h")
        XCTAssertEqual(request.head.headers["x-odd-name"], "v")
        XCTAssertTrue(request.head.keepAlive)
        XCTAssertTrue(request.head.isWebSocketUpgrade)

        parser = HTTPRequestParser(limits: HTTPLimits())
        parser.feed(Array("PATCH / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\nBREW /  HTTP/1.1\r\nHost: h\r\n\r\n".utf8))
        guard case .request(let patch)? = nextOutcome(&parser) else { return XCTFail("no request") }
        XCTAssertEqual(patch.head.method, .patch)
        XCTAssertFalse(patch.head.keepAlive)
        guard case .error(let error)? = nextOutcome(&parser) else { return XCTFail("two spaces must be refused") }
        XCTAssertEqual(error.status, 400)
    }
}
