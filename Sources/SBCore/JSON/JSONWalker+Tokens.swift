/// The tokens of the walk: strings (escapes, UTF-8, surrogate pairs) and numbers (grammar and
/// binary64 range), the rules listed on `JSONScanner`.
extension JSONWalker {
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
