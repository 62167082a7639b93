import XCTest
@testable import SBHTTP

final class HTTPResponseEncoderTests: XCTestCase {
    /// The status lines written from literals say what `reasonPhrase` says, and so does one
    /// built on demand.
    func testStatusLinesMatchTheReasonPhrases() {
        for status in HTTPResponseEncoder.literalStatuses + [405, 426, 507] {
            var out: [UInt8] = []
            HTTPResponseEncoder.encode(HTTPResponse(status: status, body: Array("x".utf8)), keepAlive: true, into: &out)
            let text = String(decoding: out, as: UTF8.self)
            let expected = "HTTP/1.1 \(status) \(HTTPResponseEncoder.reasonPhrase(status))\r\n"
            XCTAssertTrue(text.hasPrefix(expected), "\(status): \(text.debugDescription)")
        }
    }

    func testFramingFields() {
        var out: [UInt8] = []
        HTTPResponseEncoder.encode(HTTPResponse(status: 200, headers: [("X-A", "b")], body: Array("hello".utf8)),
                                   keepAlive: false, extraHeaderLines: Array("S: t\r\n".utf8), into: &out)
        XCTAssertEqual(String(decoding: out, as: UTF8.self),
                       "HTTP/1.1 200 OK\r\nX-A: b\r\nS: t\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello")
        out = []
        HTTPResponseEncoder.encode(HTTPResponse(status: 204), keepAlive: true, into: &out)
        XCTAssertEqual(String(decoding: out, as: UTF8.self), "HTTP/1.1 204 No Content\r\n\r\n")
        out = []
        HTTPResponseEncoder.encode(HTTPResponse(status: 200, body: Array("abc".utf8)), keepAlive: true, headRequest: true, into: &out)
        XCTAssertEqual(String(decoding: out, as: UTF8.self), "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n")
        out = []
        HTTPResponseEncoder.encodeStreamHead(HTTPResponse(status: 200, headers: [("Content-Type", "text/event-stream")]), into: &out)
        XCTAssertEqual(String(decoding: out, as: UTF8.self), "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n")
    }
}
