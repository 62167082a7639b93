/// Lowercased header names without an allocation for the ones that arrive on every request:
/// a name that matches one of these (ignoring case) is the literal below, which costs neither a
/// heap string nor reference counting; any other name is lowercased into a new string.
enum HeaderName {
    private static let known: [String] = [
        "host", "user-agent", "accept", "accept-encoding", "accept-language", "connection",
        "content-length", "content-type", "transfer-encoding", "authorization", "origin",
        "upgrade", "sec-websocket-key", "sec-websocket-version", "sec-websocket-extensions",
        "sec-websocket-protocol", "cache-control", "pragma", "cookie", "referer", "expect",
        "idempotency-key", "x-api-key", "x-forwarded-for", "x-real-ip", "x-request-id",
        "last-event-id", "if-none-match", "te", "trailer",
    ]
    /// `known` indexed by name length, so a lookup compares a handful of candidates at most.
    private static let byLength: [[(bytes: [UInt8], name: String)]] = {
        var table = [[(bytes: [UInt8], name: String)]](repeating: [], count: 33)
        for name in known { table[name.utf8.count].append((Array(name.utf8), name)) }
        return table
    }()

    static func lowercased(_ bytes: ArraySlice<UInt8>) -> String {
        if bytes.count < byLength.count {
            for candidate in byLength[bytes.count] where equalsIgnoringASCIICase(bytes, candidate.bytes) {
                return candidate.name
            }
        }
        return String(decoding: bytes.lazy.map(lowercase), as: UTF8.self)
    }

    /// `lower` is already lowercase.
    static func equalsIgnoringASCIICase<Bytes: Collection<UInt8>>(_ bytes: Bytes, _ lower: [UInt8]) -> Bool {
        guard bytes.count == lower.count else { return false }
        var j = 0
        for byte in bytes {
            if lowercase(byte) != lower[j] { return false }
            j += 1
        }
        return true
    }

    @inline(__always)
    static func lowercase(_ byte: UInt8) -> UInt8 {
        byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z") ? byte | 0x20 : byte
    }
}
