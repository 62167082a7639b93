import XCTest
@testable import SBHTTP

/// The parser gives the same events however the bytes are split: all at once, one byte at a
/// time, and in random splits.
final class HTTPRequestParserTests: XCTestCase {
    enum Seen: Equatable {
        case head(String, String)
        case request(String, String, [UInt8])
        case error(Int)
    }

    func run(_ chunks: [[UInt8]], limits: HTTPLimits = .init()) -> [Seen] {
        var parser = HTTPRequestParser(limits: limits)
        var seen: [Seen] = []
        for chunk in chunks {
            parser.feed(chunk)
            while let event = parser.next() {
                switch event {
                case .head(let h): seen.append(.head(h.method.name, h.target))
                case .request(let r): seen.append(.request(r.head.method.name, r.head.target, r.body))
                case .error(let e): seen.append(.error(e.status)); return seen
                }
            }
        }
        return seen
    }

    func splits(_ bytes: [UInt8], seed: UInt64) -> [[UInt8]] {
        var rng = SplitMix(seed: seed)
        var chunks: [[UInt8]] = []
        var i = 0
        while i < bytes.count {
            let n = Int(rng.next() % 17) + 1
            chunks.append(Array(bytes[i..<min(bytes.count, i + n)]))
            i += n
        }
        return chunks
    }

    static let samples: [String] = [
        "GET /health HTTP/1.1\r\nHost: x\r\n\r\n",
        "POST /api/events HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello",
        "POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3;ext=1\r\nabc\r\n2\r\nde\r\n0\r\nTrailer: t\r\n\r\n",
        "GET /a HTTP/1.1\r\nHost: x\r\n\r\nPOST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nokGET /c?x=1 HTTP/1.1\r\nHost: x\r\n\r\n",
        "\r\nGET /old HTTP/1.0\r\n\r\n",
    ]

    func testEverySplitGivesTheSameEvents() {
        for sample in Self.samples {
            let bytes = Array(sample.utf8)
            let whole = run([bytes])
            XCTAssertFalse(whole.isEmpty, sample)
            XCTAssertFalse(whole.contains { if case .error = $0 { true } else { false } }, "\(sample): \(whole)")
            XCTAssertEqual(run(bytes.map { [$0] }), whole, "byte at a time: \(sample)")
            for seed in 0..<200 {
                XCTAssertEqual(run(splits(bytes, seed: UInt64(seed))), whole, "split seed \(seed): \(sample)")
            }
            // Every prefix is "need more" or a prefix of the full event list, never an error.
            for cut in 0..<bytes.count {
                let partial = run([Array(bytes[0..<cut])])
                XCTAssertEqual(Array(whole.prefix(partial.count)), partial, "prefix \(cut) of \(sample)")
            }
        }
    }

    func testPipelinedAndChunkedBodies() {
        XCTAssertEqual(run([Array(Self.samples[3].utf8)]), [
            .request("GET", "/a", []),
            .request("POST", "/b", Array("ok".utf8)),
            .request("GET", "/c?x=1", []),
        ])
        XCTAssertEqual(run([Array(Self.samples[2].utf8)]).last, .request("POST", "/c", Array("abcde".utf8)))
    }

    func status(_ text: String, limits: HTTPLimits = .init()) -> Int? {
        if case .error(let s)? = run([Array(text.utf8)], limits: limits).last { return s }
        return nil
    }

    func testErrorsAndLimits() {
        XCTAssertEqual(status("GET / HTTP/1.1\r\n\r\n"), 400, "missing Host")
        XCTAssertEqual(status("GET / HTTP/2.0\r\nHost: x\r\n\r\n"), 505)
        XCTAssertEqual(status("GET / FOO/1.1\r\nHost: x\r\n\r\n"), 400)
        XCTAssertEqual(status("G(T / HTTP/1.1\r\nHost: x\r\n\r\n"), 400)
        XCTAssertEqual(status("GET nopath HTTP/1.1\r\nHost: x\r\n\r\n"), 400)
        XCTAssertEqual(status("GET / HTTP/1.1\r\nHost : x\r\n\r\n"), 400, "space before colon")
        XCTAssertEqual(status("GET / HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n"), 400)
        XCTAssertEqual(status("GET / HTTP/1.1\r\nHost: x\r\nNoColon\r\n\r\n"), 400)
        XCTAssertEqual(status("GET /%zz HTTP/1.1\r\nHost: x\r\n\r\n"), 400)
        XCTAssertEqual(status("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1x\r\n\r\n"), 400)
        XCTAssertEqual(status("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n"), 400)
        XCTAssertEqual(status("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999999\r\n\r\n"), 400)
        XCTAssertEqual(status("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"), 400)
        XCTAssertEqual(status("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n"), 400, "chunked not final: RFC 9112 §6.3")
        XCTAssertEqual(status("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"), 501)
        XCTAssertEqual(status("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"), 400)
        XCTAssertEqual(status("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffffff\r\n"), 400)
        XCTAssertEqual(status("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcXY"), 400, "data without CRLF")
        // Limits decided early: before the body or the end of the head arrives.
        let small = HTTPLimits(maxHeadBytes: 64, maxHeaderCount: 2, maxBodyBytes: 10, maxTargetBytes: 16)
        XCTAssertEqual(status("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\n", limits: small), 413)
        XCTAssertEqual(status("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nb\r\n", limits: small), 413)
        XCTAssertEqual(status("GET / HTTP/1.1\r\nHost: x\r\nA: \(String(repeating: "a", count: 80))", limits: small), 431, "no CRLFCRLF yet")
        XCTAssertEqual(status("GET / HTTP/1.1\r\nHost: x\r\nA: 1\r\nB: 2\r\n\r\n", limits: small), 431)
        XCTAssertEqual(status("GET /\(String(repeating: "a", count: 60))", limits: small), 414, "before the line ends")
    }

    func testHeadFieldsAndFlags() {
        var parser = HTTPRequestParser()
        parser.feed(Array("GET /ws?apiKey=a%20b&x=1+2 HTTP/1.1\r\nHost: x\r\nUpgrade: WebSocket\r\nConnection: keep-alive, Upgrade\r\nExpect: 100-continue\r\n\r\nleft".utf8))
        guard case .head(let head)? = parser.next() else { return XCTFail() }
        XCTAssertEqual(head.path, "/ws")
        XCTAssertEqual(head.queryValue("apiKey"), "a b")
        XCTAssertEqual(head.queryValue("x"), "1 2")
        XCTAssertTrue(head.isWebSocketUpgrade)
        XCTAssertTrue(head.keepAlive)
        XCTAssertTrue(head.expectsContinue)
        XCTAssertEqual(head.headers["upgrade"], "WebSocket")
        guard case .request? = parser.next() else { return XCTFail() }
        XCTAssertEqual(parser.takeRemainingBytes(), Array("left".utf8))

        var old = HTTPRequestParser()
        old.feed(Array("GET / HTTP/1.0\r\n\r\n".utf8))
        guard case .request(let r0)? = old.next() else { return XCTFail() }
        XCTAssertFalse(r0.head.keepAlive)
        var closing = HTTPRequestParser()
        closing.feed(Array("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".utf8))
        guard case .request(let r1)? = closing.next() else { return XCTFail() }
        XCTAssertFalse(r1.head.keepAlive)
    }

    /// A recycled request's field storage holds the next request's fields, and only those.
    func testRecycledFieldStorageHoldsOnlyTheNextRequestsFields() {
        var parser = HTTPRequestParser()
        parser.feed(Array("GET /a HTTP/1.1\r\nHost: one\r\nX-Long-Name: a long value\r\nOrigin: http://o\r\n\r\nGET /b HTTP/1.1\r\nHost: 2\r\n\r\n".utf8))
        guard case .request(let first)? = parser.next() else { return XCTFail() }
        XCTAssertEqual(first.head.headers.fields.map(\.name), ["host", "x-long-name", "origin"])
        parser.recycle(first)
        guard case .request(let second)? = parser.next() else { return XCTFail() }
        XCTAssertEqual(second.head.path, "/b")
        XCTAssertEqual(second.head.headers.fields.map { "\($0.name)=\($0.value)" }, ["host=2"])
        XCTAssertNil(second.head.headers["origin"])
        XCTAssertEqual(first.head.headers["origin"], "http://o", "a copy kept by the caller is its own")
    }

    /// `.head` comes ahead of the request only when the client waits for `100 Continue`; then
    /// it comes before the body has arrived, however the bytes are split.
    func testHeadEventOnlyForExpectContinue() {
        let waiting = "POST /p HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n"
        XCTAssertEqual(run([Array(waiting.utf8)]), [.head("POST", "/p")], "the head alone: the client waits")
        XCTAssertEqual(run([Array(waiting.utf8), Array("ok".utf8)]), [.head("POST", "/p"), .request("POST", "/p", Array("ok".utf8))])
        XCTAssertEqual(run([Array((waiting + "ok").utf8)]), [.head("POST", "/p"), .request("POST", "/p", Array("ok".utf8))])
        let plain = "POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n"
        XCTAssertEqual(run([Array(plain.utf8)]), [], "nothing before the body")
        XCTAssertEqual(run([Array(plain.utf8), Array("o".utf8), Array("k".utf8)]), [.request("POST", "/p", Array("ok".utf8))])
    }

    func testIdleParserHoldsNoBuffer() {
        var parser = HTTPRequestParser()
        XCTAssertTrue(parser.isIdle)
        parser.feed(Array("GET / HTTP/1.1\r\nHost: x\r\n\r\n".utf8))
        XCTAssertFalse(parser.isIdle)
        _ = parser.next(); _ = parser.next()
        XCTAssertTrue(parser.isIdle)
        XCTAssertLessThanOrEqual(parser.buffer.capacity, 4096, "a keep-alive connection keeps at most a small buffer")
        parser.feed(Array("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 9000\r\n\r\n".utf8) + [UInt8](repeating: 0x61, count: 9000))
        _ = parser.next(); _ = parser.next()
        XCTAssertTrue(parser.isIdle)
        XCTAssertEqual(parser.buffer.capacity, 0, "a large buffer is released once the request is done")
    }

    func testEncoder() {
        var out: [UInt8] = []
        HTTPResponseEncoder.encode(HTTPResponse(status: 201, headers: [("Content-Type", "application/json")], body: Array("{}".utf8)), keepAlive: true, into: &out)
        XCTAssertEqual(String(decoding: out, as: UTF8.self), "HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}")
        out = []
        HTTPResponseEncoder.encode(HTTPResponse(status: 204), keepAlive: false, into: &out)
        XCTAssertEqual(String(decoding: out, as: UTF8.self), "HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n")
        out = []
        HTTPResponseEncoder.encode(HTTPResponse(status: 200, body: [1, 2]), keepAlive: true, headRequest: true, into: &out)
        XCTAssertEqual(String(decoding: out, as: UTF8.self), "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n")
    }
}

/// Deterministic random splits.
struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed &+ 0x9E37_79B9_7F4A_7C15 }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
