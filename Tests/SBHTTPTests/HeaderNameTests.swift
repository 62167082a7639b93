import XCTest
@testable import SBHTTP

/// Header names come out lowercased whichever way they arrive, values exactly as sent, and a
/// lookup by lowercase name finds every spelling.
final class HeaderNameTests: XCTestCase {
    func testNamesAreLowercasedAndValuesKept() {
        for (raw, expected) in [("Host", "host"), ("CONTENT-LENGTH", "content-length"), ("content-type", "content-type"),
                                ("Sec-WebSocket-Key", "sec-websocket-key"), ("X-Custom-Thing", "x-custom-thing"),
                                ("A", "a"), ("Hos", "hos"), ("Hostx", "hostx"),
                                (String(repeating: "Z", count: 40), String(repeating: "z", count: 40))] {
            let headers = HTTPHeaders([("X-Before", "1"), (raw, " Mixed Case\tvalue"), ("X-After", "")])
            XCTAssertEqual(headers.fields.map(\.name), ["x-before", expected, "x-after"], raw)
            XCTAssertEqual(headers[expected], " Mixed Case\tvalue", raw)
            XCTAssertEqual(headers.firstValue(Array(expected.utf8)).map { Array($0) }, Array(" Mixed Case\tvalue".utf8), raw)
            XCTAssertNil(headers[raw == expected ? "\(expected)x" : raw], "a lookup takes the lowercase name: \(raw)")
        }
        let repeated = HTTPHeaders([("Via", "a"), ("X", "b"), ("VIA", "c"), ("via", "")])
        XCTAssertEqual(repeated.values("via"), ["a", "c", ""])
        XCTAssertEqual(repeated["via"], "a")
        XCTAssertEqual(repeated["x"], "b")
        XCTAssertNil(repeated["vi"])
        XCTAssertEqual(repeated.count, 4)
        XCTAssertEqual(HTTPHeaders().count, 0)
        XCTAssertNil(HTTPHeaders()["host"])
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
