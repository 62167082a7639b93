/// Request-target and Host syntax (RFC 9112 §3.2, RFC 3986 §3). Accepted forms: origin-form,
/// absolute-form with an http or https scheme, and asterisk-form for OPTIONS; authority-form
/// (only for CONNECT, which we do not implement) is rejected.
enum RequestTarget {
    static func validate(_ target: ArraySlice<UInt8>, isOptions: Bool) -> HTTPParseError? {
        if target.count == 1, target.first == UInt8(ascii: "*") {
            return isOptions ? nil : .bad("asterisk-form request target is only for OPTIONS")
        }
        if target.first == UInt8(ascii: "/") {
            return pathAndQuery(target) ? nil : .bad("invalid character in request target")
        }
        // absolute-form: "http" / "https" "://" authority path-abempty [ "?" query ]
        // Schemes are case-insensitive; fold letters only, so no other byte can pass for one.
        let lower = target.prefix(8).map { $0 >= UInt8(ascii: "A") && $0 <= UInt8(ascii: "Z") ? $0 | 0x20 : $0 }
        let schemeLength = lower.starts(with: Array("https://".utf8)) ? 8 : lower.starts(with: Array("http://".utf8)) ? 7 : 0
        guard schemeLength > 0 else { return .bad("request target must be an absolute path or an http(s) URI") }
        let rest = target.dropFirst(schemeLength)
        let authorityEnd = rest.firstIndex { $0 == UInt8(ascii: "/") || $0 == UInt8(ascii: "?") } ?? rest.endIndex
        let authority = rest[..<authorityEnd]
        // RFC 9110 §4.2.1: an http URI with an empty host is invalid; §4.2.4: userinfo is an error.
        guard !authority.isEmpty, !authority.contains(UInt8(ascii: "@")), hostAndPort(authority, allowEmptyHost: false) else {
            return .bad("invalid authority in request target")
        }
        let tail = rest[authorityEnd...]
        return tail.isEmpty || pathAndQuery(tail) ? nil : .bad("invalid character in request target")
    }

    /// `Host = uri-host [ ":" port ]` (RFC 9110 §7.2); an empty host is allowed there.
    static func isValidHost(_ value: ArraySlice<UInt8>) -> Bool {
        value.withUnsafeBufferPointer { hostAndPort($0, allowEmptyHost: true) }
    }

    /// The same, on the head's raw bytes (no array made per request).
    static func isValidHost(_ value: UnsafeBufferPointer<UInt8>) -> Bool {
        hostAndPort(value, allowEmptyHost: true)
    }

    /// path-abempty [ "?" query ] with pchar = unreserved / pct-encoded / sub-delims / ":" / "@";
    /// a fragment ("#") is not part of a request-target.
    static func pathAndQuery(_ bytes: ArraySlice<UInt8>) -> Bool {
        bytes.withUnsafeBufferPointer { pathAndQuery($0) }
    }

    /// On raw bytes: every request's target passes here (an `ArraySlice` index costs a bounds
    /// check per byte).
    private static func pathAndQuery(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        var i = 0
        while i < bytes.count {
            let c = bytes[i]
            if c == UInt8(ascii: "%") {
                guard isPercentEncoded(bytes, at: i) else { return false }
                i += 3
                continue
            }
            guard isTargetByte(c) else { return false }
            i += 1
        }
        return true
    }

    /// "%" HEXDIG HEXDIG at `i`.
    private static func isPercentEncoded(_ bytes: UnsafeBufferPointer<UInt8>, at i: Int) -> Bool {
        i + 2 < bytes.count && PercentDecoding.hex(bytes[i + 1]) != nil && PercentDecoding.hex(bytes[i + 2]) != nil
    }

    /// host [ ":" port ] where host = IP-literal / reg-name (an IPv4 address is a reg-name).
    private static func hostAndPort(_ bytes: ArraySlice<UInt8>, allowEmptyHost: Bool) -> Bool {
        bytes.withUnsafeBufferPointer { hostAndPort($0, allowEmptyHost: allowEmptyHost) }
    }

    private static func hostAndPort(_ bytes: UnsafeBufferPointer<UInt8>, allowEmptyHost: Bool) -> Bool {
        var i = 0
        if bytes.first == UInt8(ascii: "[") {
            guard let close = bytes.firstIndex(of: UInt8(ascii: "]")), close > 1 else { return false }
            for j in 1..<close where !(isRegNameByte(bytes[j]) || bytes[j] == UInt8(ascii: ":")) { return false }
            i = close + 1
        } else {
            while i < bytes.count, bytes[i] != UInt8(ascii: ":") {
                let c = bytes[i]
                if c == UInt8(ascii: "%") {
                    guard isPercentEncoded(bytes, at: i) else { return false }
                    i += 3
                    continue
                }
                guard isRegNameByte(c) else { return false }
                i += 1
            }
            guard allowEmptyHost || i > 0 else { return false }
        }
        guard i < bytes.count else { return true }
        guard bytes[i] == UInt8(ascii: ":") else { return false }
        i += 1
        while i < bytes.count {
            guard HTTPSyntax.isDigit(bytes[i]) else { return false }
            i += 1
        }
        return true
    }

    /// pchar (without "%", checked apart with its two hex digits), "/" and "?": unreserved,
    /// sub-delims, ":", "@", "/", "?" (RFC 3986 §3.3, §3.4). As 128-bit sets (two words):
    /// a shift and a mask per byte of every target and Host value, not a
    /// chain of comparisons. Literals, rebuilt from the predicates by RequestTargetByteSetTests.
    @inline(__always)
    static func isTargetByte(_ c: UInt8) -> Bool {
        c < 128 && (c < 64 ? targetLow &>> UInt64(c) : targetHigh &>> UInt64(c &- 64)) & 1 == 1
    }

    /// reg-name bytes (RFC 3986 §3.2.2) without "%": unreserved and sub-delims.
    @inline(__always)
    static func isRegNameByte(_ c: UInt8) -> Bool {
        c < 128 && (c < 64 ? regNameLow &>> UInt64(c) : regNameHigh &>> UInt64(c &- 64)) & 1 == 1
    }

    static let targetLow: UInt64 = 0xAFFF_FFD2_0000_0000
    static let targetHigh: UInt64 = 0x47FF_FFFE_87FF_FFFF
    static let regNameLow: UInt64 = 0x2BFF_7FD2_0000_0000
    static let regNameHigh: UInt64 = 0x47FF_FFFE_87FF_FFFE

    static func isUnreserved(_ c: UInt8) -> Bool {
        switch c {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
             UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
            true
        default:
            false
        }
    }

    static func isSubDelim(_ c: UInt8) -> Bool {
        switch c {
        case UInt8(ascii: "!"), UInt8(ascii: "$"), UInt8(ascii: "&"), UInt8(ascii: "'"), UInt8(ascii: "("), UInt8(ascii: ")"),
             UInt8(ascii: "*"), UInt8(ascii: "+"), UInt8(ascii: ","), UInt8(ascii: ";"), UInt8(ascii: "="):
            true
        default:
            false
        }
    }
}
