/// Finds the byte ranges of the elements of a top-level JSON array, so each posted event can
/// be stored exactly as it was sent. Runs only on bodies Foundation has already validated, so it
/// need not re-check syntax: it only tracks strings and nesting depth.
public enum JSONSplitter {
    public static func arrayElements(_ bytes: [UInt8]) -> [Range<Int>]? {
        var i = skipSpace(bytes, 0)
        guard i < bytes.count, bytes[i] == UInt8(ascii: "[") else { return nil }
        i += 1
        var ranges: [Range<Int>] = []
        while true {
            i = skipSpace(bytes, i)
            guard i < bytes.count else { return nil }
            if bytes[i] == UInt8(ascii: "]") { return ranges }
            let start = i
            guard let end = valueEnd(bytes, from: i) else { return nil }
            ranges.append(start..<end)
            i = skipSpace(bytes, end)
            guard i < bytes.count else { return nil }
            if bytes[i] == UInt8(ascii: ",") { i += 1; continue }
            if bytes[i] == UInt8(ascii: "]") { return ranges }
            return nil
        }
    }

    /// The bytes of the single top-level value, without surrounding whitespace.
    public static func trimmedValue(_ bytes: [UInt8]) -> Range<Int> {
        let start = skipSpace(bytes, 0)
        var end = bytes.count
        while end > start, isSpace(bytes[end - 1]) { end -= 1 }
        return start..<end
    }

    /// End index (exclusive) of the value starting at `from`.
    private static func valueEnd(_ bytes: [UInt8], from: Int) -> Int? {
        var depth = 0
        var i = from
        var inString = false
        while i < bytes.count {
            let c = bytes[i]
            if inString {
                if c == UInt8(ascii: "\\") { i += 2; continue }
                if c == UInt8(ascii: "\"") {
                    inString = false
                    if depth == 0 { return i + 1 }
                }
                i += 1
                continue
            }
            switch c {
            case UInt8(ascii: "\""): inString = true
            case UInt8(ascii: "{"), UInt8(ascii: "["): depth += 1
            case UInt8(ascii: "}"), UInt8(ascii: "]"):
                if depth == 0 { return i }
                depth -= 1
                if depth == 0 { return i + 1 }
            case UInt8(ascii: ","):
                if depth == 0 { return i }
            default:
                if depth == 0 && isSpace(c) { return i }
            }
            i += 1
        }
        return depth == 0 && !inString ? i : nil
    }

    private static func skipSpace(_ bytes: [UInt8], _ from: Int) -> Int {
        var i = from
        while i < bytes.count, isSpace(bytes[i]) { i += 1 }
        return i
    }

    private static func isSpace(_ c: UInt8) -> Bool {
        c == 0x20 || c == 0x09 || c == 0x0A || c == 0x0D
    }
}
