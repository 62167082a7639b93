import XCTest
@testable import SBWebSocket
import SBTestSupport

final class WebSocketCodecTests: XCTestCase {
    func masked(_ opcode: UInt8, _ payload: [UInt8], fin: Bool = true, mask: [UInt8] = [0x37, 0xFA, 0x21, 0x3D]) -> [UInt8] {
        ClientFrame.masked(opcode: opcode, payload: payload, fin: fin, mask: mask)
    }

    func events(_ chunks: [[UInt8]], max: Int = 1 << 20) -> [WebSocketReadEvent] {
        var reader = WebSocketReader(maxMessageBytes: max)
        var out: [WebSocketReadEvent] = []
        for chunk in chunks {
            reader.feed(chunk)
            while let event = reader.next() { out.append(event) }
        }
        return out
    }

    func testEncoderLengthEncodings() {
        for (length, header) in [(0, [0x81, 0]), (125, [0x81, 125]), (126, [0x81, 126, 0, 126]), (65535, [0x81, 126, 0xFF, 0xFF]),
                                 (65536, [0x81, 127, 0, 0, 0, 0, 0, 1, 0, 0])] as [(Int, [UInt8])] {
            let frame = WebSocketFrameEncoder.encode(opcode: .text, payload: [UInt8](repeating: 0x61, count: length))
            XCTAssertEqual(Array(frame.prefix(header.count)), header, "length \(length)")
            XCTAssertEqual(frame.count, header.count + length)
            XCTAssertEqual(WebSocketFrameEncoder.headerSize(payloadLength: length), header.count)
        }
        XCTAssertEqual(WebSocketFrameEncoder.closeFrame(code: 1001, reason: "bye"), [0x88, 5, 0x03, 0xE9, 0x62, 0x79, 0x65])
        let long = WebSocketFrameEncoder.closeFrame(code: 1000, reason: String(repeating: "é", count: 100))
        XCTAssertLessThanOrEqual(long.count - 2, 125)
    }

    func testEveryOpcodeAndLengthRoundTrip() {
        for length in [0, 1, 125, 126, 1000, 65535, 65536, 200_000] {
            let payload = (0..<length).map { UInt8(truncatingIfNeeded: $0 % 128) }
            XCTAssertEqual(events([masked(1, payload)]), [.text(payload)], "text \(length)")
            XCTAssertEqual(events([masked(2, payload)]), [.binary(payload)], "binary \(length)")
        }
        XCTAssertEqual(events([masked(9, [1, 2])]), [.ping([1, 2])])
        XCTAssertEqual(events([masked(10, [3])]), [.pong([3])])
        XCTAssertEqual(events([masked(8, [0x03, 0xE8, 0x6F, 0x6B])]), [.close(code: 1000, reason: "ok")])
        XCTAssertEqual(events([masked(8, [])]), [.close(code: nil, reason: "")])
    }

    func testFragmentsWithInterleavedPingSplitAtEveryByte() {
        let stream = masked(1, Array("Hel".utf8), fin: false) + masked(9, [7]) + masked(0, Array("lo ".utf8), fin: false)
            + masked(0, [0xE2, 0x82], fin: false) + masked(0, [0xAC], fin: true, mask: [1, 2, 3, 4]) + masked(2, [9, 9])
        let expected: [WebSocketReadEvent] = [.ping([7]), .text(Array("Hello €".utf8)), .binary([9, 9])]
        XCTAssertEqual(events([stream]), expected)
        XCTAssertEqual(events(stream.map { [$0] }), expected, "one byte at a time")
        for cut in 1..<stream.count {
            XCTAssertEqual(events([Array(stream[0..<cut]), Array(stream[cut...])]), expected, "split at \(cut)")
        }
    }

    func failure(_ bytes: [UInt8], max: Int = 1 << 20) -> UInt16? {
        if case .failure(let code, _)? = events([bytes], max: max).last { return code }
        return nil
    }

    func testProtocolViolations() {
        XCTAssertEqual(failure([0xC1, 0x80, 0, 0, 0, 0]), 1002, "RSV1")
        XCTAssertEqual(failure([0x83, 0x80, 0, 0, 0, 0]), 1002, "opcode 3")
        XCTAssertEqual(failure([0x8B, 0x80, 0, 0, 0, 0]), 1002, "opcode 11")
        XCTAssertEqual(failure([0x81, 0x00]), 1002, "unmasked client frame")
        XCTAssertEqual(failure(masked(9, [UInt8](repeating: 0, count: 126))), 1002, "control > 125")
        XCTAssertEqual(failure(masked(9, [1], fin: false)), 1002, "fragmented ping")
        XCTAssertEqual(failure(masked(0, [1])), 1002, "continuation without a message")
        XCTAssertEqual(failure(masked(1, [0x61], fin: false) + masked(1, [0x62])), 1002, "text inside a message")
        XCTAssertEqual(failure([0x82, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]), 1002, "64-bit length top bit")
        XCTAssertEqual(failure(masked(8, [0x03])), 1002, "1-byte close")
        XCTAssertEqual(failure(masked(8, [0x03, 0xED])), 1002, "close code 1005")
        XCTAssertEqual(failure(masked(8, [0x03, 0xE8, 0xFF])), 1007, "close reason not UTF-8")
        // 1009 from the header alone, before any payload byte.
        XCTAssertEqual(failure([0x82, 0x80 | 126, 0x01, 0x00, 1, 2, 3, 4], max: 100), 1009)
        XCTAssertEqual(failure(masked(1, [0x61], fin: false) + [0x80, 0x80 | 126, 0x01, 0x00, 1, 2, 3, 4], max: 256), 1009, "total over max")
    }

    func testUTF8FailsFastAndValidatesAcrossFragments() {
        // Invalid byte in the first fragment: failure before later fragments arrive.
        XCTAssertEqual(failure(masked(1, [0x61, 0xC0, 0xAF], fin: false)), 1007)
        // Partial frame: the header promises 10 bytes, the first 3 are already invalid.
        var reader = WebSocketReader(maxMessageBytes: 100)
        let frame = masked(1, [0xF8, 0x61, 0x61, 0x61, 0x61, 0x61, 0x61, 0x61, 0x61, 0x61])
        reader.feed(Array(frame.prefix(9)))
        if case .failure(let code, _)? = reader.next() { XCTAssertEqual(code, 1007) } else { XCTFail("no fail-fast") }
        for bad: [UInt8] in [[0xED, 0xA0, 0x80], [0xF4, 0x90, 0x80, 0x80], [0xE0, 0x80, 0xAF], [0xFF]] {
            XCTAssertEqual(failure(masked(1, bad)), 1007, "\(bad)")
        }
        XCTAssertEqual(failure(masked(1, [0xE2, 0x82])), 1007, "ends inside a sequence")
        XCTAssertEqual(events([masked(1, [0xF0, 0x9F], fin: false) + masked(0, [0x98, 0x80])]), [.text([0xF0, 0x9F, 0x98, 0x80])])
    }

    func testCloseCodeTable() {
        for code: UInt16 in [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 4999] {
            XCTAssertTrue(WebSocketCloseCode.isValidReceived(code), "\(code)")
        }
        for code: UInt16 in [0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000] {
            XCTAssertFalse(WebSocketCloseCode.isValidReceived(code), "\(code)")
        }
    }

    func testHandshake() {
        XCTAssertEqual(WebSocketHandshake.acceptValue(forKey: "dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
        func validate(_ headers: [String: String], method: String = "GET") -> Result<String, WebSocketHandshake.Failure> {
            WebSocketHandshake.validate(method: method, versionMinor: 1) { headers[$0] }
        }
        let good = ["upgrade": "websocket", "connection": "Upgrade", "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==", "sec-websocket-version": "13"]
        XCTAssertEqual(try validate(good).get(), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
        var bad = good; bad["sec-websocket-key"] = nil
        XCTAssertEqual(validate(bad), .failure(.badRequest("missing Sec-WebSocket-Key")))
        bad = good; bad["sec-websocket-key"] = "AAAAAAAAAAAAAAAAAAAA"  // 15 bytes
        guard case .failure(.badRequest) = validate(bad) else { return XCTFail() }
        bad = good; bad["sec-websocket-key"] = "!!!!"
        guard case .failure(.badRequest) = validate(bad) else { return XCTFail() }
        bad = good; bad["sec-websocket-version"] = "8"
        XCTAssertEqual(validate(bad), .failure(.upgradeRequired))
        guard case .failure(.badRequest) = validate(good, method: "POST") else { return XCTFail() }
    }

    func testIdleReaderHoldsNoBuffer() {
        var reader = WebSocketReader(maxMessageBytes: 1 << 20)
        reader.feed(masked(1, Array("hi".utf8)))
        XCTAssertEqual(reader.next(), .text(Array("hi".utf8)))
        XCTAssertNil(reader.next())
        XCTAssertTrue(reader.isIdle)
        XCTAssertEqual(reader.buffer.capacity, 0)
    }
}
