/// Splits a request-target into a percent-decoded path and decoded query pairs.
enum PercentDecoding {
    /// nil when a %-escape is malformed or decodes to invalid UTF-8.
    static func splitTarget(_ target: String) -> (path: String, query: [(String, String)])? {
        // Fast path: most targets are plain absolute paths with nothing to decode.
        if target.utf8.first == UInt8(ascii: "/"),
           !target.utf8.contains(where: { $0 == UInt8(ascii: "%") || $0 == UInt8(ascii: "?") }) {
            return (target, [])
        }
        var bytes = Array(target.utf8)
        // absolute-form: keep only the path.
        if bytes.first != UInt8(ascii: "/"), let scheme = bytes.firstRange(of: Array("://".utf8)) {
            let rest = bytes[scheme.upperBound...]
            bytes = rest.firstIndex(of: UInt8(ascii: "/")).map { Array(rest[$0...]) } ?? [UInt8(ascii: "/")]
        }
        let q = bytes.firstIndex(of: UInt8(ascii: "?"))
        let rawPath = bytes[..<(q ?? bytes.count)]
        guard let path = decode(rawPath, plusIsSpace: false) else { return nil }
        var query: [(String, String)] = []
        if let q {
            for pair in bytes[(q + 1)...].split(separator: UInt8(ascii: "&"), omittingEmptySubsequences: true) {
                let eq = pair.firstIndex(of: UInt8(ascii: "="))
                guard let name = decode(pair[..<(eq ?? pair.endIndex)], plusIsSpace: true),
                      let value = eq.map({ decode(pair[($0 + 1)...], plusIsSpace: true) }) ?? "" else { return nil }
                query.append((name, value))
            }
        }
        return (path, query)
    }

    static func decode(_ bytes: ArraySlice<UInt8>, plusIsSpace: Bool) -> String? {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var i = bytes.startIndex
        while i < bytes.endIndex {
            let c = bytes[i]
            if c == UInt8(ascii: "%") {
                guard i + 2 < bytes.endIndex, let hi = hex(bytes[i + 1]), let lo = hex(bytes[i + 2]) else { return nil }
                out.append(hi << 4 | lo)
                i += 3
            } else {
                out.append(plusIsSpace && c == UInt8(ascii: "+") ? UInt8(ascii: " ") : c)
                i += 1
            }
        }
        return String(validating: out, as: UTF8.self)
    }

    static func hex(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): c - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}
