import XCTest
@testable import SBWebSocket
import SBCompression
import SBCore
import SBTestSupport

/// permessage-deflate (RFC 7692): negotiation as a table of offers and answers, the reader's
/// RSV1 rules, bounded inflation, and the shared compressed frame.
final class PerMessageDeflateTests: XCTestCase {
    // MARK: Negotiation

    static let base = "permessage-deflate; server_no_context_takeover; client_no_context_takeover"

    /// Offer header values → the response's Sec-WebSocket-Extensions, nil = no extension,
    /// "400" = a malformed header.
    static let negotiationTable: [(offers: [String], answer: String?)] = [
        ([], nil),
        (["permessage-deflate"], base),
        (["PerMessage-Deflate"], base),
        // What browsers and Python's websockets send.
        (["permessage-deflate; client_max_window_bits"], base),
        (["permessage-deflate; client_max_window_bits=10"], base),
        (["permessage-deflate; client_no_context_takeover"], base),
        (["permessage-deflate; server_no_context_takeover"], base),
        (["permessage-deflate; server_max_window_bits=10"], base + "; server_max_window_bits=10"),
        (["permessage-deflate; server_max_window_bits=8"], base + "; server_max_window_bits=8"),
        (["permessage-deflate; server_max_window_bits=\"12\""], base + "; server_max_window_bits=12"),
        (["permessage-deflate ; server_no_context_takeover ; client_max_window_bits ; server_max_window_bits=15"],
         base + "; server_max_window_bits=15"),
        // Declined offers (§7): unknown, repeated, valueless where a value is needed, bad values.
        (["permessage-deflate; x_unknown"], nil),
        (["permessage-deflate; server_no_context_takeover; server_no_context_takeover"], nil),
        (["permessage-deflate; client_max_window_bits; client_max_window_bits=9"], nil),
        (["permessage-deflate; server_max_window_bits"], nil),
        (["permessage-deflate; server_max_window_bits=7"], nil),
        (["permessage-deflate; server_max_window_bits=16"], nil),
        (["permessage-deflate; server_max_window_bits=09"], nil),
        (["permessage-deflate; server_max_window_bits=+9"], nil),
        (["permessage-deflate; client_max_window_bits=0"], nil),
        (["permessage-deflate; server_no_context_takeover=1"], nil),
        (["permessage-deflate; client_no_context_takeover=\"\""], nil),
        // A declined offer does not stop the next one (§5: the server picks among the offers).
        (["permessage-deflate; server_max_window_bits=20, permessage-deflate; client_max_window_bits"], base),
        (["permessage-deflate; x=1", "permessage-deflate; server_max_window_bits=9"], base + "; server_max_window_bits=9"),
        // Other extensions are ignored, and never answered.
        (["x-webkit-deflate-frame"], nil),
        (["x-webkit-deflate-frame, permessage-deflate"], base),
        (["foo; bar=\"a,b;c\", permessage-deflate"], base),
        // Empty list elements are skipped (RFC 7230 §7).
        ([", permessage-deflate ,"], base),
        // Grammar violations: 400.
        (["permessage-deflate;"], "400"),
        (["permessage-deflate; server_max_window_bits="], "400"),
        (["permessage-deflate server_no_context_takeover"], "400"),
        (["permessage-deflate; a=\"open"], "400"),
        (["permessage-deflate; a=b c"], "400"),
        (["\"permessage-deflate\""], "400"),
        (["permessage-deflate; a=\"\u{1}\""], "400"),
    ]

    func testNegotiationTable() {
        for (offers, answer) in Self.negotiationTable {
            let got: String?
            switch PerMessageDeflate.negotiate(offers) {
            case .none: got = nil
            case .accepted(let agreement): got = agreement.responseHeaderValue
            case .malformed: got = "400"
            }
            XCTAssertEqual(got, answer, "offer \(offers)")
        }
    }

    func testAgreedWindowBoundsWhatMayBeCompressed() {
        guard case .accepted(let small) = PerMessageDeflate.negotiate(["permessage-deflate; server_max_window_bits=9"]),
              case .accepted(let full) = PerMessageDeflate.negotiate(["permessage-deflate"]) else { return XCTFail() }
        XCTAssertEqual(small.maxCompressiblePayload, 512)
        XCTAssertEqual(full.maxCompressiblePayload, Int.max, "our deflater's window is the client's")
        guard case .accepted(let fourteen) = PerMessageDeflate.negotiate(["permessage-deflate; server_max_window_bits=14"]) else { return XCTFail() }
        XCTAssertEqual(fourteen.maxCompressiblePayload, 16384)
    }

    func testExtensionListBounds() {
        let many = Array(repeating: "a", count: WebSocketExtensionOffer.maxElements + 1).joined(separator: ", ")
        XCTAssertEqual(PerMessageDeflate.negotiate([many]), .malformed("Sec-WebSocket-Extensions: more than 64 extensions offered"))
        let parameters = "permessage-deflate" + String(repeating: "; a", count: WebSocketExtensionOffer.maxParametersPerElement + 1)
        if case .malformed = PerMessageDeflate.negotiate([parameters]) {} else { XCTFail("too many parameters") }
    }

    func testHandshakeResponseCarriesTheAgreement() {
        let plain = String(decoding: WebSocketHandshake.response(accept: "x"), as: UTF8.self)
        XCTAssertFalse(plain.contains("Sec-WebSocket-Extensions"))
        let agreed = String(decoding: WebSocketHandshake.response(accept: "x", extensions: Self.base), as: UTF8.self)
        XCTAssertTrue(agreed.hasSuffix("Sec-WebSocket-Accept: x\r\nSec-WebSocket-Extensions: \(Self.base)\r\n\r\n"))
    }

    // MARK: Reader

    func masked(_ firstByte: UInt8, _ payload: [UInt8], mask: [UInt8] = [0x37, 0xFA, 0x21, 0x3D]) -> [UInt8] {
        // maskedFrame ORs FIN into the first byte it is given: pass opcode and RSV bits, FIN apart.
        ClientFrame.masked(opcode: firstByte & 0x7F, payload: payload, fin: firstByte & 0x80 != 0, mask: mask)
    }

    func compress(_ text: String) -> [UInt8] {
        var bytes = RawDeflater().compressWithSyncFlush(Array(text.utf8))
        bytes.removeLast(4)
        return bytes
    }

    func events(_ chunks: [[UInt8]], inflates: Bool = true, max: Int = 1 << 20) -> [WebSocketReadEvent] {
        var reader = WebSocketReader(maxMessageBytes: max, inflates: inflates)
        let inflater = MessageInflater()
        var out: [WebSocketReadEvent] = []
        for chunk in chunks {
            reader.feed(chunk)
            while let event = reader.next(inflate: { inflater.inflate(&$0, limit: $1) }) { out.append(event) }
        }
        return out
    }

    func lastFailure(_ chunks: [[UInt8]], inflates: Bool = true, max: Int = 1 << 20) -> UInt16? {
        if case .failure(let code, _)? = events(chunks, inflates: inflates, max: max).last { return code }
        return nil
    }

    /// RSV1 and the other reserved bits, frame by frame (first byte: FIN 0x80, RSV1 0x40,
    /// RSV2 0x20, RSV3 0x10, opcode).
    func testReservedBitsTable() {
        let body = compress("hello")
        let table: [(String, [UInt8], Bool, UInt16?)] = [
            ("RSV1 text, negotiated", masked(0xC1, body), true, nil),
            ("RSV1 binary, negotiated", masked(0xC2, body), true, nil),
            ("RSV1 without the extension", masked(0xC1, body), false, 1002),
            ("RSV2", masked(0xA1, body), true, 1002),
            ("RSV3", masked(0x91, body), true, 1002),
            ("RSV1 on ping", masked(0xC9, []), true, 1002),
            ("RSV1 on pong", masked(0xCA, []), true, 1002),
            ("RSV1 on close", masked(0xC8, [0x03, 0xE8]), true, 1002),
            ("RSV1 on a continuation", masked(0x41, Array(body.prefix(2))) + masked(0xC0, Array(body.dropFirst(2))), true, 1002),
            ("plain text, negotiated", masked(0x81, Array("hi".utf8)), true, nil),
        ]
        for (name, bytes, inflates, code) in table {
            XCTAssertEqual(lastFailure([bytes], inflates: inflates), code, name)
        }
    }

    func testCompressedMessagesInflateWholeAndFragmented() {
        let text = String(repeating: "{\"type\":\"event\",\"seq\":42} ", count: 40)
        let body = compress(text)
        XCTAssertEqual(events([masked(0xC1, body)]), [.text(Array(text.utf8))])
        // Fragmented (RSV1 on the first frame only), with a ping in between, split at every byte.
        let cut = body.count / 2
        let stream = masked(0x41, Array(body[..<cut])) + masked(0x89, [7]) + masked(0x80, Array(body[cut...]))
            + masked(0x81, Array("plain".utf8))
        let expected: [WebSocketReadEvent] = [.ping([7]), .text(Array(text.utf8)), .text(Array("plain".utf8))]
        XCTAssertEqual(events([stream]), expected)
        for split in stride(from: 1, to: stream.count, by: 7) {
            XCTAssertEqual(events([Array(stream[..<split]), Array(stream[split...])]), expected, "split at \(split)")
        }
        // A message ending in a final block (BFINAL) is read too.
        let final = [UInt8]([0xF3, 0x48, 0xCD, 0xC9, 0xC9, 0x07, 0x00])  // "Hello", fixed Huffman, BFINAL
        XCTAssertEqual(events([masked(0xC1, final)]), [.text(Array("Hello".utf8))])
    }

    func testInflatedSizeIsWhatTheLimitBounds() {
        let limit = 64 << 10
        let bomb = RawDeflater().compressWithSyncFlush([UInt8](repeating: 0x61, count: 2 << 20)).dropLast(4)
        XCTAssertLessThan(bomb.count, 32 << 10, "the bomb itself is under the limit")
        XCTAssertEqual(lastFailure([masked(0xC1, Array(bomb))], max: limit), 1009)
        XCTAssertEqual(lastFailure([masked(0xC2, Array(bomb))], max: limit), 1009)
        // Exactly at the limit passes.
        let atLimit = String(repeating: "a", count: limit)
        XCTAssertEqual(events([masked(0xC1, compress(atLimit))], max: limit), [.text(Array(atLimit.utf8))])
        XCTAssertEqual(lastFailure([masked(0xC1, compress(atLimit + "a"))], max: limit), 1009)
        // The compressed bytes are bounded from the frame header too, before they are buffered.
        XCTAssertEqual(lastFailure([[0xC2, 0x80 | 127, 0, 0, 0, 0, 0, 0x10, 0, 0, 1, 2, 3, 4]], max: limit), 1009)
    }

    func testBadCompressedDataAndBadTextAreRefused() {
        XCTAssertEqual(lastFailure([masked(0xC1, [0xFF, 0xFF])]), 1007, "not DEFLATE")
        XCTAssertEqual(lastFailure([masked(0xC1, [0x03, 0x02, 0x00])]), 1007, "distance before the message start")
        var invalidUTF8 = RawDeflater().compressWithSyncFlush([0x61, 0xC0, 0x80])
        invalidUTF8.removeLast(4)
        XCTAssertEqual(lastFailure([masked(0xC1, invalidUTF8)]), 1007, "inflated text not UTF-8")
        XCTAssertEqual(events([masked(0xC2, invalidUTF8)]), [.binary([0x61, 0xC0, 0x80])], "binary is not checked")
    }

    func testReaderStaysSmallWithTheExtension() {
        XCTAssertLessThanOrEqual(MemoryLayout<WebSocketReader>.size, 56)
    }

    // MARK: Outgoing

    func inflateFrame(_ frame: [UInt8]) -> (firstByte: UInt8, payload: [UInt8])? {
        let length7 = Int(frame[1] & 0x7F)
        let header = length7 < 126 ? 2 : length7 == 126 ? 4 : 10
        guard case .inflated(let payload) = RawInflater().inflate(Array(frame[header...]) + [0, 0, 0xFF, 0xFF], limit: 1 << 24) else { return nil }
        return (frame[0], payload)
    }

    func testBroadcastFrameCompressesOnceAndRoundTripsThroughZlib() {
        let payload = Array(("{\"type\":\"event\",\"sessionId\":\"s1\",\"seq\":7,\"payload\":{"
            + (0..<30).map { "\"field\($0)\":\"value \($0)\"" }.joined(separator: ",") + "}}").utf8)
        let frame = BroadcastFrame(text: payload)
        XCTAssertEqual(frame.payloadCount, payload.count)
        XCTAssertEqual(frame.plain.bytes, WebSocketFrameEncoder.encode(opcode: .text, payload: payload))
        let deflater = MessageDeflater()
        let compressed = frame.deflatedFrame(using: deflater)
        XCTAssertTrue(compressed === frame.deflatedFrame(using: MessageDeflater()), "made once, then shared")
        XCTAssertLessThan(compressed.count, frame.plain.count / 2)
        let decoded = inflateFrame(compressed.bytes)
        XCTAssertEqual(decoded?.firstByte, 0xC1, "FIN, RSV1, text")
        XCTAssertEqual(decoded?.payload, payload)
        // What a client reads: our own reader, unmasked, as a client would.
        var reader = WebSocketReader(maxMessageBytes: 1 << 20, requireMask: false, inflates: true)
        reader.feed(compressed.bytes)
        let inflater = MessageInflater()
        XCTAssertEqual(reader.next(inflate: { inflater.inflate(&$0, limit: $1) }), .text(payload))
    }

    func testIncompressiblePayloadStaysPlain() {
        let noise = (0..<300).map { UInt8(truncatingIfNeeded: ($0 &* 2_654_435_761) >> 7) | 0x20 & 0x7F }
        let frame = BroadcastFrame(text: noise)
        let chosen = frame.deflatedFrame(using: MessageDeflater())
        if chosen !== frame.plain {
            XCTAssertLessThan(chosen.count, frame.plain.count, "compressed only when smaller")
        }
        XCTAssertNil(MessageDeflater().compressedFrame(opcode: .binary, payload: Array((0..<64).map { UInt8($0 * 37 & 0xFF) })))
    }

    func testLengthEncodingsOfCompressedFrames() {
        let deflater = MessageDeflater()
        for count in [200, 5_000, 400_000] {
            let payload = (0..<count).map { UInt8(truncatingIfNeeded: $0 % 17 + ($0 >> 12)) }
            guard let frame = deflater.compressedFrame(opcode: .binary, payload: payload) else { return XCTFail("\(count)") }
            XCTAssertEqual(inflateFrame(frame)?.payload, payload, "\(count)")
            XCTAssertEqual(frame[0], 0xC2)
        }
    }
}
