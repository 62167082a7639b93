import SBCore
import XCTest

/// The text log format's escaping (issue 20): nothing a client sends can start a line, move the
/// terminal, or pose as another field.
final class LogEscapingTests: XCTestCase {
    func testEveryControlIsEscaped() {
        let cases: [(String, String)] = [
            ("plain /api/events/s1", "plain /api/events/s1"),
            ("a\nb", "a\\nb"),
            ("a\r\nb", "a\\r\\nb"),
            ("tab\there", "tab\\there"),
            ("nul\u{0}", "nul\\u{0}"),
            ("esc\u{1b}[31m", "esc\\u{1b}[31m"),
            ("del\u{7f}", "del\\u{7f}"),
            ("nel\u{85}", "nel\\u{85}"),
            ("csi\u{9b}", "csi\\u{9b}"),
            ("ls\u{2028}ps\u{2029}", "ls\\u{2028}ps\\u{2029}"),
            ("back\\slash", "back\\\\slash"),
            ("forged \\n escape", "forged \\\\n escape"),
            ("é ü 日本", "é ü 日本"),
        ]
        for (input, expected) in cases {
            XCTAssertEqual(SwitchboardLogHandler.escaped(input), expected, "\(input.debugDescription)")
        }
        for value in 0..<0x20 {
            let escaped = SwitchboardLogHandler.escaped(String(UnicodeScalar(UInt8(value))))
            XCTAssertTrue(escaped.unicodeScalars.allSatisfy { $0.value >= 0x20 && $0.value < 0x7F }, "\(value): \(escaped)")
        }
    }
}
