/// A single-pass validating JSON scanner for request bodies and WebSocket messages: it checks
/// the whole RFC 8259 grammar and, in the same pass, reports the top-level value, the elements
/// of a top-level array and the members a caller asked for (see `JSONDocument`). No tree is
/// built; the only allocations are the element and member tables.
///
/// Where the RFC leaves a choice, the stricter one (and Foundation's on Linux, except where
/// noted) is taken:
/// - §2 whitespace is exactly space, tab, LF and CR; nothing may follow the value. No byte order
///   mark: a caller that allows one (§8.1) skips it with `from:`.
/// - §6 numbers follow the grammar (no leading zeros, `+`, bare `.`, NaN, Infinity); a number
///   whose binary64 value would be infinite is refused (§6 lets a parser limit the range).
///   Underflow to zero is accepted.
/// - §7 strings: unescaped bytes below 0x20 are refused; escapes are the eight of §7 and `\u`.
/// - §8.1 text is UTF-8 (RFC 3629: no overlongs, no encoded surrogates, at most U+10FFFF).
/// - §8.2 a `\u` escape of a UTF-16 surrogate must be half of a high-low pair; a lone one is
///   refused (the grammar allows it, but it cannot be Unicode text; RFC 7493 §2.1 forbids it).
/// - §9 nesting is limited to `maxDepth` arrays and objects.
/// - §5, §4 no trailing comma (Foundation on Linux accepts `[1,]` and `{"a":1,}`; we do not).
public enum JSONScanner {
    /// The deepest nesting accepted: 512 arrays or objects inside each other, as Foundation.
    public static let maxDepth = 512

    /// Scans `bytes[from...]` as one JSON text. Elements of a top-level array past
    /// `maxElements` are validated and counted but not kept (nor their members): the tables
    /// grow with what the caller can use, not with what a client sends.
    public static func scan(_ bytes: [UInt8], from start: Int = 0, keys: JSONKeyTable,
                            maxElements: Int) -> Result<JSONDocument, JSONScanError> {
        bytes.withUnsafeBufferPointer { text in
            keys.flat.withUnsafeBufferPointer { flat in
                keys.bounds.withUnsafeBufferPointer { bounds in
                    var walker = Walker(text: text, start: start, keyBytes: flat, keyBounds: bounds, maxElements: maxElements)
                    guard let root = walker.document() else {
                        return .failure(JSONScanError(reason: walker.failure, offset: walker.failureOffset))
                    }
                    return .success(JSONDocument(bytes: bytes, keys: keys, root: root, elements: walker.elements,
                                                 elementCount: walker.elementCount, members: walker.members))
                }
            }
        }
    }
}

/// The recursive-descent walk. Reads past the end return 0, which no JSON position accepts.
private struct Walker {
    enum Role { case root, element, nested }

    let p: UnsafeBufferPointer<UInt8>
    let end: Int
    var i: Int
    let keyBytes: UnsafeBufferPointer<UInt8>
    let keyBounds: UnsafeBufferPointer<Int>
    let keyCount: Int
    let maxElements: Int

    var elements: [JSONElement] = []
    var elementCount = 0
    var members: [JSONMember] = []
    var failure: JSONScanError.Reason = .syntax
    var failureOffset = 0

    // What the last value was; set by each value parser just before it returns.
    var lastKind: JSONKind = .null
    var lastString: Range<Int> = 0..<0
    var lastEscaped = false
    var lastMembersStart = -1
    var lastRepeated: Int8 = -1
    /// Escaped member names are decoded here to be compared (rare).
    var scratch: [UInt8] = []

    init(text: UnsafeBufferPointer<UInt8>, start: Int, keyBytes: UnsafeBufferPointer<UInt8>,
         keyBounds: UnsafeBufferPointer<Int>, maxElements: Int) {
        p = text
        end = text.count
        i = start
        self.keyBytes = keyBytes
        self.keyBounds = keyBounds
        keyCount = keyBounds.count - 1
        self.maxElements = maxElements
    }

    @inline(__always) func at(_ j: Int) -> UInt8 { j < end ? p[j] : 0 }

    @inline(__always) mutating func skipSpace() {
        while i < end {
            let c = p[i]
            guard c == 0x20 || c == 0x0A || c == 0x0D || c == 0x09 else { return }
            i += 1
        }
    }

    mutating func fail(_ reason: JSONScanError.Reason, _ offset: Int) -> Bool {
        failure = reason
        failureOffset = offset
        return false
    }

    mutating func document() -> JSONElement? {
        skipSpace()
        let start = i
        guard value(depth: 0, role: .root) else { return nil }
        let root = JSONElement(kind: lastKind, range: start..<i, membersStart: lastKind == .object ? lastMembersStart : -1,
                               repeated: lastKind == .object ? lastRepeated : -1)
        skipSpace()
        guard i == end else {
            _ = fail(.syntax, i)
            return nil
        }
        return root
    }

    /// One value at `i`; on success `i` is just past it and `lastKind` says what it was.
    mutating func value(depth: Int, role: Role) -> Bool {
        switch at(i) {
        case UInt8(ascii: "{"): return object(depth: depth + 1, role: role)
        case UInt8(ascii: "["): return array(depth: depth + 1, role: role)
        case UInt8(ascii: "\""): return string()
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return number()
        case UInt8(ascii: "t"): return literal(0x7472_7565, 4, .true)      // "true"
        case UInt8(ascii: "f"): return literal(0x6661_6C73, 5, .false)     // "fals" + "e"
        case UInt8(ascii: "n"): return literal(0x6E75_6C6C, 4, .null)      // "null"
        default: return fail(.syntax, i)
        }
    }

    /// `true`, `false` or `null`: the first four bytes big-endian in `word`.
    mutating func literal(_ word: UInt32, _ length: Int, _ kind: JSONKind) -> Bool {
        let got = UInt32(at(i)) << 24 | UInt32(at(i + 1)) << 16 | UInt32(at(i + 2)) << 8 | UInt32(at(i + 3))
        guard got == word, length == 4 || at(i + 4) == UInt8(ascii: "e") else {
            var j = i
            let text: [UInt8] = kind == .true ? [0x74, 0x72, 0x75, 0x65] : kind == .null ? [0x6E, 0x75, 0x6C, 0x6C] : [0x66, 0x61, 0x6C, 0x73, 0x65]
            while j - i < length, at(j) == text[j - i] { j += 1 }
            return fail(.syntax, j)
        }
        i += length
        lastKind = kind
        return true
    }

    mutating func array(depth: Int, role: Role) -> Bool {
        guard depth <= JSONScanner.maxDepth else { return fail(.tooDeep, i) }
        i += 1
        skipSpace()
        if at(i) == UInt8(ascii: "]") {
            i += 1
            lastKind = .array
            return true
        }
        while true {
            let start = i
            if role == .root {
                let keeps = elementCount < maxElements
                guard value(depth: depth, role: keeps ? .element : .nested) else { return false }
                if keeps {
                    let isObject = lastKind == .object
                    elements.append(JSONElement(kind: lastKind, range: start..<i, membersStart: isObject ? lastMembersStart : -1,
                                                repeated: isObject ? lastRepeated : -1))
                }
                elementCount += 1
            } else {
                guard value(depth: depth, role: .nested) else { return false }
            }
            skipSpace()
            switch at(i) {
            case UInt8(ascii: ","):
                i += 1
                skipSpace()
            case UInt8(ascii: "]"):
                i += 1
                lastKind = .array
                return true
            default:
                return fail(.syntax, i)
            }
        }
    }

    mutating func object(depth: Int, role: Role) -> Bool {
        guard depth <= JSONScanner.maxDepth else { return fail(.tooDeep, i) }
        let records = role != .nested && keyCount > 0
        let base = members.count
        if records { members.append(contentsOf: repeatElement(JSONMember.absent, count: keyCount)) }
        var seen: UInt32 = 0
        var repeated: Int8 = -1
        i += 1
        skipSpace()
        if at(i) != UInt8(ascii: "}") {
            while true {
                guard at(i) == UInt8(ascii: "\"") else { return fail(.syntax, i) }
                guard string() else { return false }
                let key = records ? keyIndex(lastString, escaped: lastEscaped) : -1
                skipSpace()
                guard at(i) == UInt8(ascii: ":") else { return fail(.syntax, i) }
                i += 1
                skipSpace()
                let valueStart = i
                guard value(depth: depth, role: .nested) else { return false }
                if key >= 0 {
                    let bit: UInt32 = 1 << UInt32(key)
                    if seen & bit != 0 {
                        if repeated < 0 { repeated = Int8(key) }
                    } else {
                        seen |= bit
                        let isString = lastKind == .string
                        members[base + key] = JSONMember(kind: lastKind, range: isString ? lastString : valueStart..<i,
                                                         escaped: isString && lastEscaped)
                    }
                }
                skipSpace()
                let c = at(i)
                i += 1
                if c == UInt8(ascii: "}") { break }
                guard c == UInt8(ascii: ",") else { return fail(.syntax, i - 1) }
                skipSpace()
            }
        } else {
            i += 1
        }
        lastKind = .object
        lastMembersStart = records ? base : -1
        lastRepeated = repeated
        return true
    }

    /// The index of the asked-for name equal to the string body `range`, or -1.
    mutating func keyIndex(_ range: Range<Int>, escaped: Bool) -> Int {
        if escaped {
            scratch.removeAll(keepingCapacity: true)
            JSONStringDecoding.unescape(p, range, into: &scratch)
            return scratch.withUnsafeBufferPointer { match($0, 0..<$0.count) }
        }
        return match(p, range)
    }

    func match(_ text: UnsafeBufferPointer<UInt8>, _ range: Range<Int>) -> Int {
        let length = range.count
        for k in 0..<keyCount {
            let start = keyBounds[k]
            guard keyBounds[k + 1] - start == length else { continue }
            var j = 0
            while j < length, keyBytes[start + j] == text[range.lowerBound + j] { j += 1 }
            if j == length { return k }
        }
        return -1
    }

    /// A string at `i` (its opening quote); sets `lastString` to the body and `lastEscaped`.
    mutating func string() -> Bool {
        var j = i + 1
        let bodyStart = j
        var escaped = false
        while true {
            // Eight bytes at a time while none is a quote, a backslash, a control byte or non-ASCII.
            while j + 8 <= end {
                let w = UnsafeRawPointer(p.baseAddress! + j).loadUnaligned(as: UInt64.self)
                if Self.needsLook(w) { break }
                j += 8
            }
            guard j < end else { return fail(.syntax, j) }
            let c = p[j]
            if c == UInt8(ascii: "\"") {
                lastString = bodyStart..<j
                lastEscaped = escaped
                lastKind = .string
                i = j + 1
                return true
            } else if c == UInt8(ascii: "\\") {
                escaped = true
                switch at(j + 1) {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"), UInt8(ascii: "b"), UInt8(ascii: "f"),
                     UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"):
                    j += 2
                case UInt8(ascii: "u"):
                    let unit = JSONStringDecoding.hex4(p, j + 2)
                    guard unit >= 0 else { return fail(.syntax, j) }
                    if unit >= 0xD800 && unit <= 0xDBFF {
                        guard at(j + 6) == UInt8(ascii: "\\"), at(j + 7) == UInt8(ascii: "u") else { return fail(.loneSurrogate, j) }
                        let low = JSONStringDecoding.hex4(p, j + 8)
                        guard low >= 0 else { return fail(.syntax, j + 6) }
                        guard low >= 0xDC00 && low <= 0xDFFF else { return fail(.loneSurrogate, j) }
                        j += 12
                    } else if unit >= 0xDC00 && unit <= 0xDFFF {
                        return fail(.loneSurrogate, j)
                    } else {
                        j += 6
                    }
                default:
                    return fail(.syntax, j)
                }
            } else if c < 0x20 {
                return fail(.syntax, j)
            } else if c < 0x80 {
                j += 1
            } else {
                let length = utf8Sequence(at: j)
                guard length > 0 else { return fail(.invalidUTF8, j) }
                j += length
            }
        }
    }

    /// True when a byte of `w` is `"`, `\`, below 0x20 or at least 0x80 (SWAR; a false
    /// positive only costs the byte-by-byte path).
    @inline(__always) static func needsLook(_ w: UInt64) -> Bool {
        let ones: UInt64 = 0x0101_0101_0101_0101
        let high: UInt64 = 0x8080_8080_8080_8080
        let quote = w ^ (ones &* 0x22)
        let backslash = w ^ (ones &* 0x5C)
        let zeroInQuote = (quote &- ones) & ~quote
        let zeroInBackslash = (backslash &- ones) & ~backslash
        let below20 = (w &- ones &* 0x20) & ~w
        return (zeroInQuote | zeroInBackslash | below20 | w) & high != 0
    }

    /// The length of the well-formed UTF-8 sequence at `j` (RFC 3629 §4), or 0.
    @inline(__always) func utf8Sequence(at j: Int) -> Int {
        @inline(__always) func continuation(_ b: UInt8) -> Bool { b & 0xC0 == 0x80 }
        let b1 = at(j + 1)
        switch p[j] {
        case 0xC2...0xDF:
            return continuation(b1) ? 2 : 0
        case 0xE0:
            return b1 >= 0xA0 && b1 <= 0xBF && continuation(at(j + 2)) ? 3 : 0
        case 0xE1...0xEC, 0xEE, 0xEF:
            return continuation(b1) && continuation(at(j + 2)) ? 3 : 0
        case 0xED:
            return b1 >= 0x80 && b1 <= 0x9F && continuation(at(j + 2)) ? 3 : 0
        case 0xF0:
            return b1 >= 0x90 && b1 <= 0xBF && continuation(at(j + 2)) && continuation(at(j + 3)) ? 4 : 0
        case 0xF1...0xF3:
            return continuation(b1) && continuation(at(j + 2)) && continuation(at(j + 3)) ? 4 : 0
        case 0xF4:
            return b1 >= 0x80 && b1 <= 0x8F && continuation(at(j + 2)) && continuation(at(j + 3)) ? 4 : 0
        default:
            return 0
        }
    }

    /// `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?` (RFC 8259 §6), refused when its
    /// magnitude reaches infinity in binary64.
    mutating func number() -> Bool {
        @inline(__always) func isDigit(_ c: UInt8) -> Bool { c &- UInt8(ascii: "0") < 10 }
        let start = i
        var j = i
        if at(j) == UInt8(ascii: "-") { j += 1 }
        // The decimal exponent of the leading significant digit follows from the count of
        // integer digits (or of zeros after the point) and the exponent.
        var integerDigits = 0
        var fractionZeros = 0
        var nonZero = false
        let first = at(j)
        if first == UInt8(ascii: "0") {
            j += 1
        } else if first >= UInt8(ascii: "1") && first <= UInt8(ascii: "9") {
            let digits = j
            j += 1
            while isDigit(at(j)) { j += 1 }
            integerDigits = j - digits
            nonZero = true
        } else {
            return fail(.syntax, j)
        }
        if at(j) == UInt8(ascii: ".") {
            j += 1
            guard isDigit(at(j)) else { return fail(.syntax, j) }
            while isDigit(at(j)) {
                if !nonZero {
                    if at(j) == UInt8(ascii: "0") { fractionZeros += 1 } else { nonZero = true }
                }
                j += 1
            }
        }
        var exponent = 0
        let e = at(j)
        if e == UInt8(ascii: "e") || e == UInt8(ascii: "E") {
            j += 1
            var negative = false
            if at(j) == UInt8(ascii: "+") || at(j) == UInt8(ascii: "-") {
                negative = at(j) == UInt8(ascii: "-")
                j += 1
            }
            guard isDigit(at(j)) else { return fail(.syntax, j) }
            while isDigit(at(j)) {
                if exponent < 100_000_000 { exponent = exponent * 10 + Int(at(j) &- UInt8(ascii: "0")) }
                j += 1
            }
            if negative { exponent = -exponent }
        }
        if nonZero {
            // The value lies in [10^d, 10^(d+1)); binary64's largest finite is ~1.798e308.
            let d = (integerDigits > 0 ? integerDigits - 1 : -fractionZeros - 1) + exponent
            if d > 308 { return fail(.numberOutOfRange, start) }
            if d == 308 {
                let text = String(decoding: UnsafeBufferPointer(rebasing: p[start..<j]), as: UTF8.self)
                guard let value = Double(text), value.isFinite else { return fail(.numberOutOfRange, start) }
            }
        }
        i = j
        lastKind = .number
        return true
    }
}
