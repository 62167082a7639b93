import Foundation
import XCTest
@testable import SBHub
import SBCore

/// Server-made ids are RFC 9562 version-7 UUIDs: valid for strict validators, time-ordered.
final class IDGeneratorTests: XCTestCase {
    func testVersion7VariantAndTimestamp() throws {
        let before = WallClock.millisecondsSinceEpoch()
        let id = IDGenerator.next()
        let uuid = try XCTUnwrap(UUID(uuidString: id), "parses as a UUID: \(id)")
        let bytes = withUnsafeBytes(of: uuid.uuid) { Array($0) }
        XCTAssertEqual(bytes[6] >> 4, 7, "version 7")
        XCTAssertEqual(bytes[8] >> 6, 0b10, "RFC 9562 variant")
        let millis = bytes[0..<6].reduce(Int64(0)) { $0 << 8 | Int64($1) }
        XCTAssertGreaterThanOrEqual(millis, before)
        XCTAssertLessThanOrEqual(millis, WallClock.millisecondsSinceEpoch() + 1000)
        XCTAssertEqual(id, id.lowercased())
    }

    func testIdsAreUniqueAndStrictlyIncreasingEvenWithinOneMillisecond() {
        let ids = (0..<20_000).map { _ in IDGenerator.next() }
        XCTAssertEqual(Set(ids).count, ids.count)
        XCTAssertEqual(ids, ids.sorted(), "text order is creation order")
    }

    func testFormatWritesEveryNibbleAsLowercaseHex() {
        XCTAssertEqual(IDGenerator.format(uuid: (0x0123_4567_89AB_CDEF, 0xFEDC_BA98_7654_3210)), "01234567-89ab-cdef-fedc-ba9876543210")
        XCTAssertEqual(IDGenerator.format(uuid: (0, 0)), "00000000-0000-0000-0000-000000000000")
        XCTAssertEqual(IDGenerator.format(uuid: (.max, .max)), "ffffffff-ffff-ffff-ffff-ffffffffffff")
    }
}
