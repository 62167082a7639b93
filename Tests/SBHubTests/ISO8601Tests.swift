import XCTest
import SBCore

final class ISO8601Tests: XCTestCase {
    func testParse() {
        XCTAssertEqual(ISO8601.parse("1970-01-01T00:00:00Z"), 0)
        XCTAssertEqual(ISO8601.parse("1970-01-01T00:00:01.250Z"), 1250)
        XCTAssertEqual(ISO8601.parse("1970-01-01T01:00:00+01:00"), 0)
        XCTAssertEqual(ISO8601.parse("2026-11-24T12:00:00Z"), 1_795_521_600_000)
        XCTAssertEqual(ISO8601.parse("2026-11-24"), 1_795_478_400_000)
        for bad in ["", "yesterday", "2026-13-01T00:00:00Z", "2026-11-24T25:00:00Z", "2026-11-24T12:00:00Zjunk", "2026-11-24T12:00:00."] {
            XCTAssertNil(ISO8601.parse(bad), bad)
        }
    }

    func testFormatRoundTrip() {
        let text = ISO8601.format(milliseconds: 1_795_521_600_123)
        XCTAssertEqual(text, "2026-11-24T12:00:00.123Z")
        XCTAssertEqual(ISO8601.parse(text), 1_795_521_600_123)
    }
}
