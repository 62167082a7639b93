/// The recursive-descent walk. Reads past the end return 0, which no JSON position accepts.
struct JSONWalker {
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
}
