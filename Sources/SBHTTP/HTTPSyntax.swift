#if canImport(Glibc)
import Glibc
#endif

/// Byte classes and small grammar pieces of RFC 9110 §5.6 shared by the head, the chunked body
/// and the trailer section.
enum HTTPSyntax {
    static let cr: UInt8 = 13, lf: UInt8 = 10, sp: UInt8 = 0x20, htab: UInt8 = 0x09

    /// tchar (RFC 9110 §5.6.2): ALPHA, DIGIT and !#$%&'*+-.^_`|~, as a 128-bit set (two words)
    /// so the check is a shift and a mask rather than a chain of comparisons. The words are
    /// literals, not computed from the list: a computed global is a lazy one, checked on every
    /// byte of every header name (HTTPSyntaxTests rebuilds them from the list).
    @inline(__always)
    static func isTokenChar(_ c: UInt8) -> Bool {
        // `&>>`: the shift is always below 64 here, so no over-shift branches.
        c < 128 && (c < 64 ? tcharLow &>> UInt64(c) : tcharHigh &>> UInt64(c &- 64)) & 1 == 1
    }

    static let tcharLow: UInt64 = 0x03FF_6CFA_0000_0000
    static let tcharHigh: UInt64 = 0x57FF_FFFF_C7FF_FFFE

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
        while i < upper {
            if !isFieldValueByte(base[i]) { return .bad("control character in header value") }
            i += 1
        }
        offsets = FieldOffsets(colon: colon, valueStart: lower, valueEnd: upper)
        return nil
    }
}
