/// Header names as bytes: the ones the server itself reads, lowercase (`HTTPHeaders` stores
/// names lowercased, so a lookup is one length check and a `memcmp`), and ASCII case folding.
public enum HeaderName {
    public static let host: [UInt8] = Array("host".utf8)
    public static let connection: [UInt8] = Array("connection".utf8)
    public static let upgrade: [UInt8] = Array("upgrade".utf8)
    public static let expect: [UInt8] = Array("expect".utf8)
    public static let contentLength: [UInt8] = Array("content-length".utf8)
    public static let transferEncoding: [UInt8] = Array("transfer-encoding".utf8)
    public static let origin: [UInt8] = Array("origin".utf8)
    public static let contentType: [UInt8] = Array("content-type".utf8)

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
