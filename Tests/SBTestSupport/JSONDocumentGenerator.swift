/// Seeded generator of JSON texts, valid and invalid, for the differential tests of the JSON
/// scanner: nesting up to past the depth limit, every escape, surrogate pairs and lone halves,
/// numbers at the edges of binary64 and of the grammar, UTF-8 of every length, whitespace in
/// and out of the RFC's set; then truncations, byte flips, insertions, deletions and trailing
/// commas of those.
public struct JSONDocumentGenerator {
    public static let names = ["sessionId", "eventId", "type", "timestamp", "seq", "lastEventId", "epoch", "token", "payload"]

    var state: UInt64

    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    public mutating func below(_ n: Int) -> Int { Int(next() % UInt64(max(n, 1))) }
    mutating func chance(_ percent: Int) -> Bool { below(100) < percent }
    mutating func pick<T>(_ items: [T]) -> T { items[below(items.count)] }

    /// One document: a valid one about half the time, otherwise a mutation of one.
    public mutating func document() -> [UInt8] {
        var base = validDocument()
        switch below(12) {
        case 0...5: return base
        case 6:
            return Array(base[..<below(base.count + 1)])  // truncation
        case 7:
            for _ in 0...below(3) where !base.isEmpty { base[below(base.count)] = UInt8(truncatingIfNeeded: next()) }
            return base
        case 8:
            for _ in 0...below(3) where !base.isEmpty { base[below(base.count)] = pick(Self.interesting) }
            return base
        case 9:
            base.insert(pick(Self.interesting), at: below(base.count + 1))
            return base
        case 10:
            if !base.isEmpty { base.remove(at: below(base.count)) }
            return base
        default:
            // A trailing comma before a closing bracket (Foundation's leniency).
            let closers = base.indices.filter { base[$0] == UInt8(ascii: "]") || base[$0] == UInt8(ascii: "}") }
            if let at = closers.isEmpty ? nil : pick(closers) { base.insert(UInt8(ascii: ","), at: at) }
            return base
        }
    }

    static let interesting: [UInt8] = Array("{}[]\":,\\ \t\r\n0123456789-+.eEtrufalsn/u".utf8) + [0x00, 0x01, 0x0B, 0x0C, 0x1F, 0x7F, 0x80, 0xBF, 0xC0, 0xC3, 0xE2, 0xED, 0xF0, 0xF4, 0xFF]

    /// A valid text (or one using a construct some parsers refuse, as lone surrogates,
    /// too-deep nesting and out-of-range numbers are, a few percent of the time).
    public mutating func validDocument() -> [UInt8] {
        var out: [UInt8] = []
        space(&out)
        switch below(10) {
        case 0...4: object(&out, depth: 1, top: true)
        case 5...7:
            out.append(UInt8(ascii: "["))
            for i in 0..<below(5) {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                space(&out)
                if chance(70) { object(&out, depth: 2, top: true) } else { value(&out, depth: 2) }
                space(&out)
            }
            out.append(UInt8(ascii: "]"))
        case 8:
            let depth = pick([10, 100, 511, 512, 513, 600, 1000])
            let open = pick(["[", "{\"a\":"])
            for _ in 0..<depth - 1 { out.append(contentsOf: open.utf8) }
            out.append(contentsOf: "[]".utf8)
            for _ in 0..<depth - 1 { out.append(open == "[" ? UInt8(ascii: "]") : UInt8(ascii: "}")) }
        default: value(&out, depth: 1)
        }
        space(&out)
        return out
    }

    mutating func space(_ out: inout [UInt8]) {
        guard chance(30) else { return }
        for _ in 0..<below(3) + 1 { out.append(chance(98) ? pick([0x20, 0x09, 0x0A, 0x0D]) : pick([0x0C, 0x0B, 0xA0])) }
    }

    mutating func object(_ out: inout [UInt8], depth: Int, top: Bool = false) {
        out.append(UInt8(ascii: "{"))
        for i in 0..<below(top ? 8 : 4) {
            if i > 0 { out.append(UInt8(ascii: ",")) }
            space(&out)
            if chance(60) {
                let name = pick(Self.names)
                if chance(5) {
                    // The same name with an escape in it.
                    out.append(contentsOf: "\"\\u00\(String(name.utf8.first!, radix: 16))\(name.dropFirst())\"".utf8)
                } else {
                    out.append(contentsOf: "\"\(name)\"".utf8)
                }
            } else {
                string(&out)
            }
            space(&out)
            out.append(UInt8(ascii: ":"))
            space(&out)
            value(&out, depth: depth + 1)
            space(&out)
        }
        out.append(UInt8(ascii: "}"))
    }

    mutating func value(_ out: inout [UInt8], depth: Int) {
        let container = depth < 6 ? 30 : 5
        let roll = below(100)
        if roll < container {
            if chance(50) {
                object(&out, depth: depth)
            } else {
                out.append(UInt8(ascii: "["))
                for i in 0..<below(4) {
                    if i > 0 { out.append(UInt8(ascii: ",")) }
                    space(&out)
                    value(&out, depth: depth + 1)
                    space(&out)
                }
                out.append(UInt8(ascii: "]"))
            }
        } else if roll < container + 30 {
            string(&out)
        } else if roll < container + 55 {
            number(&out)
        } else {
            out.append(contentsOf: pick(["true", "false", "null"]).utf8)
        }
    }

    static let numbers = [
        "0", "-0", "0.0", "-0.0e-0", "1", "-1", "10", "1E+2", "1e-2", "2.5E3", "0.1", "123.456e-7", "9007199254740993",
        "9223372036854775807", "9223372036854775808", "-9223372036854775809", "18446744073709551616",
        "123456789012345678901234567890", "1e308", "1.7976931348623157e308", "17976931348623157e292", "100e306",
        "4.9e-324", "2.4703282292062327e-324", "1e-400", "0e99999", "1e309", "-1e309", "1.7976931348623159e308",
        "1000e306", "0.1e310", "1e99999999999999999999", "1e-99999999999999999999", "1" + String(repeating: "0", count: 308),
        "1" + String(repeating: "0", count: 309), "0." + String(repeating: "0", count: 30) + "1", "5e-1", "5.0", "5e0", "12",
    ]

    mutating func number(_ out: inout [UInt8]) {
        if chance(40) {
            out.append(contentsOf: pick(Self.numbers).utf8)
            return
        }
        if chance(50) { out.append(UInt8(ascii: "-")) }
        if chance(20) { out.append(UInt8(ascii: "0")) } else {
            out.append(UInt8(ascii: "1") + UInt8(below(9)))
            for _ in 0..<below(20) { out.append(UInt8(ascii: "0") + UInt8(below(10))) }
        }
        if chance(40) {
            out.append(UInt8(ascii: "."))
            for _ in 0..<below(18) + 1 { out.append(UInt8(ascii: "0") + UInt8(below(10))) }
        }
        if chance(30) {
            out.append(pick([UInt8(ascii: "e"), UInt8(ascii: "E")]))
            if chance(60) { out.append(pick([UInt8(ascii: "+"), UInt8(ascii: "-")])) }
            for _ in 0..<below(3) + 1 { out.append(UInt8(ascii: "0") + UInt8(below(10))) }
        }
    }

    mutating func string(_ out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        for _ in 0..<below(12) {
            switch below(20) {
            case 0...8: out.append(UInt8(ascii: "a") + UInt8(below(26)))
            case 9: out.append(pick(Array(" !#$%&'()*+,-./:;<=>?@[]^_`{|}~\u{7F}".utf8)))
            case 10: out.append(contentsOf: pick(["\\\"", "\\\\", "\\/", "\\b", "\\f", "\\n", "\\r", "\\t"]).utf8)
            case 11: out.append(contentsOf: "\\u\(hex4(below(0xD800)))".utf8)
            case 12: out.append(contentsOf: "\\u\(hex4(0xE000 + below(0x2000)))".utf8)
            case 13:
                let high = 0xD800 + below(0x400), low = 0xDC00 + below(0x400)
                out.append(contentsOf: "\\u\(hex4(high))\\u\(hex4(low))".utf8)
            case 14 where chance(20):
                out.append(contentsOf: "\\u\(hex4(0xD800 + below(0x800)))".utf8)  // a lone surrogate
            case 15: out.append(contentsOf: pick(["é", "ß", "€", "中", "😀", "𝄞", "\u{10FFFF}", "\u{FFFF}", "\u{80}", "\u{2028}"]).utf8)
            case 16: out.append(contentsOf: pick(["sessionId", "2026-11-24T12:00:00Z", "s-1", "tool_use"]).utf8)
            case 17 where chance(10): out.append(UInt8(below(0x20)))  // a raw control byte
            case 18 where chance(10): out.append(contentsOf: pick(["\\x", "\\u12", "\\U0041", "\\'"]).utf8)
            default: out.append(UInt8(ascii: "z"))
            }
        }
        out.append(UInt8(ascii: "\""))
    }

    func hex4(_ value: Int) -> String {
        let text = String(value, radix: 16, uppercase: value & 1 == 0)
        return String(repeating: "0", count: 4 - text.count) + text
    }
}
