// Test support, not product code: only the differential tests, the fuzzer and sb-json-scan
// use it. Scripts/fuzz.sh compiles it into one module with the scanner's sources, hence the
// conditional import.
#if canImport(SBCore)
public import SBCore
#endif

/// Where Foundation's JSONSerialization on Linux accepts a text that `JSONScanner` refuses,
/// and how to tell from our error that this is why: the differential tests and the fuzzer
/// accept a disagreement only when these explain it.
///
/// - Trailing comma (RFC 8259 §4, §5: a value-separator only between values): Foundation takes
///   `[1,]` and `{"a":1,}`. Our error is at the `]` or `}` right after the comma.
/// - A number out of range in a member value that a later repeat of the same name replaces
///   (RFC 8259 §4 leaves repeated names to the implementation, §6 allows a range limit):
///   Foundation checks the range only of the numbers it keeps, so `{"a":1e999,"a":1}` passes.
///   We refuse such a number wherever it is.
/// - Byte order mark (RFC 8259 §8.1: a parser MAY ignore one): Foundation skips it; the scanner
///   leaves that to its caller (the hub skips it before scanning).
/// - UTF-16 and UTF-32 (RFC 8259 §8.1: JSON exchanged between systems MUST be UTF-8):
///   Foundation guesses them from NUL bytes or a UTF-16 byte order mark and decodes them.
public enum JSONDifferences {
    /// True when undoing the documented constructs one error at a time (dropping the trailing
    /// comma, replacing the out-of-range number by 0) makes the text acceptable, or when it is
    /// in another encoding than UTF-8.
    public static func explains(_ bytes: [UInt8], _ error: JSONScanError) -> Bool {
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) || bytes.starts(with: [0xFE, 0xFF]) || bytes.starts(with: [0xFF, 0xFE]) {
            return true
        }
        if bytes.contains(0) { return true }
        var text = bytes
        var failure = error
        for _ in 0..<256 {
            if failure.reason == .numberOutOfRange {
                var end = failure.offset
                while end < text.count, numberBytes.contains(text[end]) { end += 1 }
                text.replaceSubrange(failure.offset..<end, with: [UInt8(ascii: "0")])
            } else if let comma = trailingComma(text, failure) {
                text.remove(at: comma)
            } else {
                return false
            }
            switch JSONScanner.scan(text, keys: .none, maxElements: 0) {
            case .success: return true
            case .failure(let next): failure = next
            }
        }
        return false
    }

    /// The offset of a comma that only whitespace separates from the `]` or `}` at the error.
    static func trailingComma(_ text: [UInt8], _ error: JSONScanError) -> Int? {
        guard error.reason == .syntax, error.offset < text.count,
              text[error.offset] == UInt8(ascii: "]") || text[error.offset] == UInt8(ascii: "}") else { return nil }
        var j = error.offset - 1
        while j >= 0, text[j] == 0x20 || text[j] == 0x09 || text[j] == 0x0A || text[j] == 0x0D { j -= 1 }
        return j >= 0 && text[j] == UInt8(ascii: ",") ? j : nil
    }

    static let numberBytes = Set("0123456789+-.eE".utf8)
}
