#if canImport(Glibc)
import Glibc
#endif

/// Byte classes and small grammar pieces of RFC 9110 §5.6 shared by the head, the chunked body
/// and the trailer section.
enum HTTPSyntax {
    static let cr: UInt8 = 13, lf: UInt8 = 10, sp: UInt8 = 0x20, htab: UInt8 = 0x09

    /// tchar (RFC 9110 §5.6.2): ALPHA, DIGIT and !#$%&'*+-.^_`|~, as a 256-byte table, "1" per
    /// token byte: one load per byte of every header name, where a two-word bit set took a
    /// dozen instructions. A `StaticString` literal, so it is constant data, not a lazy global
    /// checked on every byte (HTTPSyntaxTests rebuilds it from the list).
    @inline(__always)
    static func isTokenChar(_ c: UInt8) -> Bool {
        tcharTable.utf8Start[Int(c)] == UInt8(ascii: "1")
    }

    static var tcharTable: StaticString {
        "0000000000000000000000000000000001011111001101101111111111000000011111111111111111111111111000111111111111111111111111111110101000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
    }

    static func isWhitespace(_ c: UInt8) -> Bool { c == sp || c == htab }

    /// field-vchar, SP or HTAB (RFC 9110 §5.5). Every other control byte — NUL, CR, LF, DEL and the
    /// rest — is rejected rather than retained: the RFC allows either and rejecting is safer.
    static func isFieldValueByte(_ c: UInt8) -> Bool {
        c == htab || (c >= 0x20 && c != 0x7F)
    }

    static func isDigit(_ c: UInt8) -> Bool { c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9") }

    /// Index just past `1*tchar` starting at `i` (== `i` when there is none).
    static func token(_ bytes: ArraySlice<UInt8>, from i: Int) -> Int {
        var j = i
        while j < bytes.endIndex, isTokenChar(bytes[j]) { j += 1 }
        return j
    }

    /// Index just past `*( SP / HTAB )` starting at `i`.
    static func whitespace(_ bytes: ArraySlice<UInt8>, from i: Int) -> Int {
        var j = i
        while j < bytes.endIndex, isWhitespace(bytes[j]) { j += 1 }
        return j
    }

    /// Index just past a quoted-string starting at `i` (RFC 9110 §5.6.4), nil when there is none
    /// or it is malformed (unterminated, control bytes, a backslash before a control byte).
    static func quotedString(_ bytes: ArraySlice<UInt8>, from i: Int) -> Int? {
        guard i < bytes.endIndex, bytes[i] == UInt8(ascii: "\"") else { return nil }
        var j = i + 1
        while j < bytes.endIndex {
            let c = bytes[j]
            switch c {
            case UInt8(ascii: "\""):
                return j + 1
            case UInt8(ascii: "\\"):
                guard j + 1 < bytes.endIndex, bytes[j + 1] == htab || (bytes[j + 1] >= 0x20 && bytes[j + 1] != 0x7F) else { return nil }
                j += 2
            default:
                guard c == htab || (c >= 0x20 && c != 0x7F) else { return nil }
                j += 1
            }
        }
        return nil
    }

    enum FieldLine {
        case field(name: ArraySlice<UInt8>, value: ArraySlice<UInt8>)
        case failure(HTTPParseError)
    }

    /// Splits one field line (without its CRLF) into name and OWS-trimmed value (RFC 9112 §5).
    /// Rejects obs-fold (§5.2: the safer of the two choices), whitespace before the colon (§5.1),
    /// names that are not tokens and values with control bytes.
    static func fieldLine(_ line: ArraySlice<UInt8>) -> FieldLine {
        var offsets = FieldOffsets()
        if let error = line.withUnsafeBufferPointer({ fieldOffsets($0, &offsets) }) { return .failure(error) }
        let base = line.startIndex
        return .field(name: line[base..<(base + offsets.colon)], value: line[(base + offsets.valueStart)..<(base + offsets.valueEnd)])
    }

    /// Where a field line's name ends (the colon) and its trimmed value lies.
    struct FieldOffsets {
        var colon = 0, valueStart = 0, valueEnd = 0
    }

    /// `fieldLine`'s checks on raw bytes, in the order of its messages: the request head runs
    /// this for every field of every request, without cutting slices. No `Result` of a tuple:
    /// its generic metadata was instantiated per call.
    static func fieldOffsets(_ bytes: UnsafeBufferPointer<UInt8>, _ offsets: inout FieldOffsets) -> HTTPParseError? {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return .bad("empty header line") }
        if isWhitespace(base[0]) { return .bad("obsolete line folding in a header field") }
        guard let found = memchr(base, Int32(UInt8(ascii: ":")), bytes.count) else { return .bad("header line without a colon") }
        let colon = base.distance(to: found.assumingMemoryBound(to: UInt8.self))
        guard colon > 0 else { return .bad("empty header name") }
        if isWhitespace(base[colon - 1]) { return .bad("whitespace between header name and colon") }
        var i = 0
        while i < colon {
            if !isTokenChar(base[i]) { return .bad("invalid character in header name") }
            i += 1
        }
        var lower = colon + 1, upper = bytes.count
        while lower < upper, isWhitespace(base[lower]) { lower += 1 }
        while upper > lower, isWhitespace(base[upper - 1]) { upper -= 1 }
        i = lower
        // Eight bytes at a time while no byte is below 0x20 or DEL (SWAR: a borrow can flag a
        // byte falsely only above a byte that is flagged truly); the byte loop decides the rest,
        // HTAB included.
        while i + 8 <= upper {
            let word = UnsafeRawPointer(base + i).loadUnaligned(as: UInt64.self)
            let below = (word &- 0x2020_2020_2020_2020) & ~word
            let del = word ^ 0x7F7F_7F7F_7F7F_7F7F
            if (below | ((del &- 0x0101_0101_0101_0101) & ~del)) & 0x8080_8080_8080_8080 != 0 { break }
            i += 8
        }
        while i < upper {
            if !isFieldValueByte(base[i]) { return .bad("control character in header value") }
            i += 1
        }
        offsets = FieldOffsets(colon: colon, valueStart: lower, valueEnd: upper)
        return nil
    }
}
