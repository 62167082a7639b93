import XCTest
@testable import SBHTTP

/// RFC 9112 strictness, table-driven: each request is fed whole, one byte at a time and split in
/// two at every offset, and must give the same events every time; every prefix gives a prefix of
/// those events (need more, never a different error).
final class HTTPStrictnessTests: XCTestCase {
    enum Seen: Equatable {
        case head
        case request([UInt8])
        case error(Int)
    }

    func run(_ chunks: [[UInt8]]) -> [Seen] {
        var parser = HTTPRequestParser()
        var seen: [Seen] = []
        for chunk in chunks {
            parser.feed(chunk)
            while let event = parser.next() {
                switch event {
                case .head: seen.append(.head)
                case .request(let r): seen.append(.request(r.body)); return seen  // the first request is the subject
                case .error(let e): seen.append(.error(e.status)); return seen
                }
            }
        }
        return seen
    }

    /// The events for `text`, checked to be the same for every way of splitting it.
    func events(_ text: String, file: StaticString = #filePath, line: UInt = #line) -> [Seen] {
        let bytes = Array(text.utf8)
        let whole = run([bytes])
        XCTAssertEqual(run(bytes.map { [$0] }), whole, "byte at a time: \(text.debugDescription)", file: file, line: line)
        for cut in 0...bytes.count {
            XCTAssertEqual(run([Array(bytes[..<cut]), Array(bytes[cut...])]), whole, "split at \(cut): \(text.debugDescription)", file: file, line: line)
            let partial = run([Array(bytes[..<cut])])
            XCTAssertEqual(Array(whole.prefix(partial.count)), partial, "prefix \(cut): \(text.debugDescription)", file: file, line: line)
        }
        return whole
    }

    func expect(_ status: Int, _ cases: [String], file: StaticString = #filePath, line: UInt = #line) {
        for text in cases {
            XCTAssertEqual(events(text, file: file, line: line).last, .error(status), text.debugDescription, file: file, line: line)
        }
    }

    func expectAccepted(_ cases: [(String, String)], file: StaticString = #filePath, line: UInt = #line) {
        for (text, body) in cases {
            XCTAssertEqual(events(text, file: file, line: line), [.request(Array(body.utf8))], text.debugDescription, file: file, line: line)
        }
    }

    static func get(_ fields: String, version: String = "HTTP/1.1", target: String = "/", method: String = "GET") -> String {
        "\(method) \(target) \(version)\r\n\(fields)\r\n"
    }

    static func chunked(_ body: String, version: String = "HTTP/1.1") -> String {
        "POST / \(version)\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n\(body)"
    }

    func testLineEndsAreCRLFOnly() {
        expect(400, [
            "GET / HTTP/1.1\nHost: x\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: x\n\r\n",
            "GET / HTTP/1.1\r\nHost: x\r\n\n",
            "\nGET / HTTP/1.1\r\nHost: x\r\n\r\n",
            "\r\n\nGET / HTTP/1.1\r\nHost: x\r\n\r\n",
            "GET / HTTP/1.1\rHost: x\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: x\r\r\n\r\n",
            "\r\rGET / HTTP/1.1\r\nHost: x\r\n\r\n",
            Self.chunked("3\nabc\r\n0\r\n\r\n"),
            Self.chunked("3\r\nabc\r\n0\n\r\n"),
            Self.chunked("0\r\nX: y\n\r\n"),
            Self.chunked("0\r\n\n"),
        ])
        // RFC 9112 §2.2: empty lines (CRLF) before the request-line are skipped.
        expectAccepted([("\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n", "")])
    }

    func testFieldLineSyntax() {
        expect(400, [
            Self.get("Host: x\r\nX: a\r\n b\r\n"),       // obs-fold
            Self.get("Host: x\r\nX: a\r\n\tb\r\n"),
            Self.get(" Host: x\r\n"),                     // whitespace before the first field
            Self.get("Host : x\r\n"),                     // whitespace before the colon
            Self.get("Host\t: x\r\n"),
            Self.get("Host: x\r\nX(: 1\r\n"),             // not tchar
            Self.get("Host: x\r\nX@Y: 1\r\n"),
            Self.get("Host: x\r\nX\u{7F}: 1\r\n"),
            Self.get("Host: x\r\né: 1\r\n"),
            Self.get("Host: x\r\n: 1\r\n"),               // empty name
            Self.get("Host: x\r\nNoColon\r\n"),
            Self.get("Host: x\r\nX: a\u{0}b\r\n"),        // control bytes in values
            Self.get("Host: x\r\nX: a\u{1}b\r\n"),
            Self.get("Host: x\r\nX: a\u{7F}\r\n"),
            Self.get("Host: x\r\nX: \u{1B}[31m\r\n"),
            Self.get("Host: x\r\nX: a\u{0B}b\r\n"),
        ])
        var parser = HTTPRequestParser()
        parser.feed(Array(Self.get("Host: x\r\nX:\t a\tb  c \t\r\nY:\r\nZ: é\r\n").utf8))
        guard case .request(let request)? = parser.next() else { return XCTFail("accepted") }
        XCTAssertEqual(request.head.headers.fields.map { "\($0.name)=\($0.value)" }, ["host=x", "x=a\tb  c", "y=", "z=é"])
    }

    func testContentLength() {
        let post = { (fields: String) in "POST / HTTP/1.1\r\nHost: x\r\n\(fields)\r\nabc" }
        expect(400, [
            post("Content-Length: 3\r\nTransfer-Encoding: chunked\r\n"),
            post("Transfer-Encoding: chunked\r\nContent-Length: 3\r\n"),
            post("Content-Length: 1x\r\n"),
            post("Content-Length: +3\r\n"),
            post("Content-Length: -3\r\n"),
            post("Content-Length: \r\n"),
            post("Content-Length: 0x3\r\n"),
            post("Content-Length: 3 3\r\n"),
            post("Content-Length: 3, 3\r\n"),               // identical list members: rejected (the safer choice)
            post("Content-Length: 3\r\nContent-Length: 3\r\n"),
            post("Content-Length: 3\r\nContent-Length: 2\r\n"),
            post("Content-Length: 3, 2\r\n"),
            post("Content-Length: 000000000000000000003\r\n"),  // 21 digits
        ])
        expect(413, [post("Content-Length: 99999999999999999999\r\n"), post("Content-Length: 1048577\r\n")])
        expectAccepted([(post("Content-Length:  003 \r\n"), "abc")])
    }

    func testTransferEncoding() {
        let te = { (value: String) in "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: \(value)\r\n\r\n0\r\n\r\n" }
        expect(400, [
            te("gzip"),                 // §6.3: chunked not final → 400 (not 501)
            te("chunked, gzip"),
            te("chunked, chunked"),
            te(", chunked"),
            te("chunked,"),
            te("chunked, , chunked"),
            te("chunked;a=b"),
            te("\"chunked\""),
            te(""),
            te("gzip;q=\"1, chunked"),
            "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        ])
        expect(501, [
            te("gzip, chunked"),
            te("x-foo;q=1;r=\"a, b\" , chunked"),
            "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        ])
        expectAccepted([(te("Chunked"), ""), (te("chunked \t"), "")])
    }

    func testChunkSizesExtensionsAndTrailers() {
        expect(400, [
            "-3", "+3", " 3", "3 ", "3\t", "0x3", "g", "", "00000000000000003",
            "3;", "3;=b", "3;a=", "3;a=\"x", "3;a=b c", "3;a\u{1}", "3;a=\u{7F}", "3;a=b;", "3;a=b ", "3;a==b",
            "3;a=\"\u{0}\"", "3;a\rb", "3;a=\"\\\u{1}\"",
        ].map { Self.chunked("\($0)\r\nabc\r\n0\r\n\r\n") })
        expect(400, [
            "X : y\r\n", "NoColon\r\n", ": v\r\n", "X: y\r\n folded\r\n", "X: a\u{1}b\r\n", "X(: y\r\n",
        ].map { Self.chunked("0\r\n\($0)\r\n") })
        expect(400, [Self.chunked("3\r\nabcX\r\n0\r\n\r\n"), Self.chunked("3\r\nab\r\n0\r\n\r\n")])
        expect(413, [Self.chunked("ffffffffffffffff\r\n"), Self.chunked("100001\r\n")])
        expect(431, [Self.chunked("0\r\n" + String(repeating: "T: 1\r\n", count: 101) + "\r\n")])
        expectAccepted([
            (Self.chunked("3;a\r\nabc\r\n0\r\n\r\n"), "abc"),
            (Self.chunked("0003;a=b;c=\"q \\\" x\"\r\nabc\r\n0;z\r\n\r\n"), "abc"),
            (Self.chunked("3 ;a = b\r\nabc\r\n0\t; z\r\n\r\n"), "abc"),   // BWS (§7.1.1)
            (Self.chunked("A\r\n0123456789\r\n0\r\nX: y\r\nZ:\r\n\r\n"), "0123456789"),
        ])
    }

    func testHost() {
        expect(400, [
            Self.get(""),
            Self.get("Host: x\r\nHost: x\r\n"),
            Self.get("Host: x\r\nHost: y\r\n", version: "HTTP/1.0"),
            Self.get("Host: a b\r\n"), Self.get("Host: x/y\r\n"), Self.get("Host: a@b\r\n"), Self.get("Host: [::1\r\n"),
            Self.get("Host: x:8o\r\n"), Self.get("Host: x:1:2\r\n"), Self.get("Host: %zz\r\n"),
        ])
        expectAccepted([
            (Self.get("Host:\r\n"), ""), (Self.get("Host: [::1]:80\r\n"), ""), (Self.get("Host: 127.0.0.1:3001\r\n"), ""),
            (Self.get("Host: a.b-c_d~e%41:\r\n"), ""), (Self.get("", version: "HTTP/1.0"), ""),
        ])
    }

    func testHeaderCount() {
        let fields = { (n: Int) in "Host: x\r\n" + (1..<n).map { "X-\($0): v\r\n" }.joined() }
        expectAccepted([(Self.get(fields(100)), "")])
        expect(431, [Self.get(fields(101))])
    }

    func testRequestLine() {
        expect(400, [
            "G(T / HTTP/1.1\r\nHost: x\r\n\r\n", " / HTTP/1.1\r\nHost: x\r\n\r\n", "GET  / HTTP/1.1\r\nHost: x\r\n\r\n",
            "GET\t/ HTTP/1.1\r\nHost: x\r\n\r\n", "GET / HTTP/1.1 \r\nHost: x\r\n\r\n", " GET / HTTP/1.1\r\nHost: x\r\n\r\n",
            Self.get("Host: x\r\n", target: "nopath"), Self.get("Host: x\r\n", target: "/a\"b"), Self.get("Host: x\r\n", target: "/a#f"),
            Self.get("Host: x\r\n", target: "/a{b}"), Self.get("Host: x\r\n", target: "/%zz"), Self.get("Host: x\r\n", target: "/%ff"),
            Self.get("Host: x\r\n", target: "/%"), Self.get("Host: x\r\n", target: "*"), Self.get("Host: x\r\n", target: "http:///x"),
            Self.get("Host: x\r\n", target: "http://u@x/"), Self.get("Host: x\r\n", target: "ftp://x/"),
            Self.get("Host: x\r\n", target: "http\u{1A}//x/"), Self.get("Host: x\r\n", target: "http://x/\u{1}"),
            Self.get("Host: x\r\n", target: "x:443", method: "CONNECT"), Self.get("Host: x\r\n", target: "/é"),
            Self.get("Host: x\r\n", version: "HTTP/1.10"), Self.get("Host: x\r\n", version: "http/1.1"),
            Self.get("Host: x\r\n", version: "HTTP/1"), Self.get("Host: x\r\n", version: "HTTP/1.a"),
        ])
        expect(505, [Self.get("Host: x\r\n", version: "HTTP/1.2"), Self.get("Host: x\r\n", version: "HTTP/2.0"),
                     Self.get("Host: x\r\n", version: "HTTP/0.9")])
        expectAccepted([
            (Self.get("Host: x\r\n", target: "*", method: "OPTIONS"), ""), (Self.get("Host: x\r\n", target: "http://x/y?z"), ""),
            (Self.get("Host: x\r\n", target: "HTTPS://X:8443"), ""), (Self.get("Host: x\r\n", target: "//a/~b!$&'()*+,;=:@/?/?%20"), ""),
            (Self.get("Host: x\r\n", method: "M-SEARCH"), ""), (Self.get("Host: x\r\n", method: "get"), ""),
        ])
    }
}
