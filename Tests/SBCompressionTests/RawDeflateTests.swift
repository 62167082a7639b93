import XCTest
import SBCompression

/// The zlib wrappers on their own: round trips, the bounded inflate, refusal of bad data.
final class RawDeflateTests: XCTestCase {
    func testCompressedSegmentsEndWithTheSyncMarkerAndRoundTrip() {
        let deflater = RawDeflater()
        let inflater = RawInflater()
        let inputs: [[UInt8]] = [
            [],
            Array("a".utf8),
            Array(String(repeating: "{\"type\":\"event\",\"n\":1}", count: 100).utf8),
            (0..<200_000).map { UInt8(truncatingIfNeeded: $0 &* 2_654_435_761 >> 13) },  // incompressible-ish
        ]
        for input in inputs {
            for _ in 0..<2 {  // the second pass runs on the reset streams
                let compressed = deflater.compressWithSyncFlush(input)
                XCTAssertEqual(Array(compressed.suffix(4)), [0, 0, 0xFF, 0xFF])
                XCTAssertEqual(inflater.inflate(compressed, limit: input.count), .inflated(input))
            }
        }
    }

    func testEachSegmentStandsAlone() {
        // No context takeover: the second segment must inflate without the first.
        let deflater = RawDeflater()
        let text = Array(String(repeating: "switchboard ", count: 50).utf8)
        _ = deflater.compressWithSyncFlush(text)
        let second = deflater.compressWithSyncFlush(text)
        XCTAssertEqual(RawInflater().inflate(second, limit: text.count), .inflated(text))
    }

    func testInflateStopsAtTheLimit() {
        let zeros = [UInt8](repeating: 0, count: 4 << 20)
        let bomb = RawDeflater().compressWithSyncFlush(zeros)
        XCTAssertLessThan(bomb.count, 8 << 10)
        let inflater = RawInflater()
        XCTAssertEqual(inflater.inflate(bomb, limit: (1 << 20)), .overLimit)
        XCTAssertEqual(inflater.inflate(bomb, limit: zeros.count - 1), .overLimit)
        XCTAssertEqual(inflater.inflate(bomb, limit: zeros.count), .inflated(zeros))
    }

    func testInvalidDataIsRefusedAndTheStreamRecovers() {
        let inflater = RawInflater()
        XCTAssertEqual(inflater.inflate([0xFF, 0xFF, 0xFF, 0xFF], limit: 100), .invalid)  // BTYPE 11 is reserved
        // A back-reference before the start of the segment (distance 1 with no output yet).
        XCTAssertEqual(inflater.inflate([0x03, 0x02, 0x00], limit: 100), .invalid)
        let ok = RawDeflater().compressWithSyncFlush(Array("hello".utf8))
        XCTAssertEqual(inflater.inflate(ok, limit: 100), .inflated(Array("hello".utf8)))
    }
}
