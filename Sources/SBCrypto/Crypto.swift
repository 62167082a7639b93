import COpenSSL

/// SHA-1 for the WebSocket handshake (RFC 6455 §4.2.2), via OpenSSL.
///
/// OpenSSL 3's one-shot `SHA1()` looks the algorithm up by name on every call, and its first call
/// activates the default provider (about 2 MB of libcrypto pages and a few hundred microseconds
/// on the first client's handshake). The implementation is fetched once, at startup (`prepare`),
/// and reused: a configuration without SHA-1 then stops the server with a clear error instead of
/// failing every WebSocket handshake.
public enum SHA1 {
    public struct Unavailable: Error, CustomStringConvertible {
        public var description: String { "OpenSSL offers no SHA-1 implementation (needed for the WebSocket handshake)" }
    }

    /// Immutable and reference-counted by OpenSSL, so one fetched method serves every thread.
    private nonisolated(unsafe) static let method: OpaquePointer? = EVP_MD_fetch(nil, "SHA1", nil)

    /// Fetches the implementation now (startup) rather than on the first handshake.
    public static func prepare() throws {
        guard method != nil else { throw Unavailable() }
    }

    public static func hash(_ bytes: some Collection<UInt8>) -> [UInt8] {
        let input = Array(bytes)
        var digest = [UInt8](repeating: 0, count: Int(SHA_DIGEST_LENGTH))
        let ok = input.withUnsafeBufferPointer { inputBuffer in
            digest.withUnsafeMutableBufferPointer { out in
                EVP_Digest(inputBuffer.baseAddress, inputBuffer.count, out.baseAddress, nil, method, nil)
            }
        }
        precondition(ok == 1, "SHA-1 failed")
        return digest
    }
}

/// SHA-256 of a byte string: content hashes (the console's asset names and ETags).
public enum SHA256 {
    public static func hash(_ bytes: [UInt8]) -> [UInt8] {
        var digest = [UInt8](repeating: 0, count: Int(SHA256_DIGEST_LENGTH))
        let ok = bytes.withUnsafeBufferPointer { input in
            digest.withUnsafeMutableBufferPointer { out in
                EVP_Digest(input.baseAddress, input.count, out.baseAddress, nil, EVP_sha256(), nil)
            }
        }
        precondition(ok == 1, "SHA-256 failed")
        return digest
    }

    /// The digest in lowercase hex.
    public static func hex(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(64)
        for byte in hash(bytes) {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0f)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}

public enum HMACSHA256 {
    public static func mac(key: [UInt8], message: [UInt8]) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: 32)
        var length: UInt32 = 32
        key.withUnsafeBufferPointer { k in
            message.withUnsafeBufferPointer { m in
                out.withUnsafeMutableBufferPointer { o in
                    _ = HMAC(EVP_sha256(), k.baseAddress, Int32(k.count), m.baseAddress, m.count, o.baseAddress, &length)
                }
            }
        }
        return Array(out.prefix(Int(length)))
    }
}

public enum SecureRandom {
    /// Instantiates OpenSSL's random generator now (startup): its first use seeds the DRBG,
    /// millions of instructions that would otherwise land on the first client.
    public static func prepare() {
        _ = bytes(1)
    }

    public static func bytes(_ count: Int) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: count)
        let ok = out.withUnsafeMutableBufferPointer { RAND_bytes($0.baseAddress, Int32(count)) }
        precondition(ok == 1, "RAND_bytes failed")
        return out
    }
}

/// Comparison whose time does not depend on where the inputs differ (API keys).
public enum ConstantTime {
    public static func equals(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        // Compare against a same-length buffer so a length mismatch costs the same work.
        let other = a.count == b.count ? b : a
        let same = a.withUnsafeBytes { x in other.withUnsafeBytes { y in CRYPTO_memcmp(x.baseAddress, y.baseAddress, x.count) } }
        return same == 0 && a.count == b.count
    }
}

/// Standard base64 with padding; decoding is strict.
public enum Base64 {
    static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)

    public static func encode(_ bytes: some Collection<UInt8>) -> String {
        let input = Array(bytes)
        var out: [UInt8] = []
        out.reserveCapacity((input.count + 2) / 3 * 4)
        var i = 0
        while i + 2 < input.count {
            let n = UInt32(input[i]) << 16 | UInt32(input[i + 1]) << 8 | UInt32(input[i + 2])
            out += [alphabet[Int(n >> 18 & 63)], alphabet[Int(n >> 12 & 63)], alphabet[Int(n >> 6 & 63)], alphabet[Int(n & 63)]]
            i += 3
        }
        let rest = input.count - i
        if rest == 1 {
            let n = UInt32(input[i]) << 16
            out += [alphabet[Int(n >> 18 & 63)], alphabet[Int(n >> 12 & 63)], UInt8(ascii: "="), UInt8(ascii: "=")]
        } else if rest == 2 {
            let n = UInt32(input[i]) << 16 | UInt32(input[i + 1]) << 8
            out += [alphabet[Int(n >> 18 & 63)], alphabet[Int(n >> 12 & 63)], alphabet[Int(n >> 6 & 63)], UInt8(ascii: "=")]
        }
        return String(decoding: out, as: UTF8.self)
    }

    public static func decode(_ text: String) -> [UInt8]? {
        let input = Array(text.utf8)
        guard input.count % 4 == 0 else { return nil }
        var out: [UInt8] = []
        var i = 0
        while i < input.count {
            var n: UInt32 = 0
            var padding = 0
            for k in 0..<4 {
                let c = input[i + k]
                if c == UInt8(ascii: "=") {
                    guard i + 4 == input.count, k >= 2 else { return nil }
                    padding += 1
                    n <<= 6
                    continue
                }
                guard padding == 0, let v = value(c) else { return nil }
                n = n << 6 | UInt32(v)
            }
            out.append(UInt8(n >> 16 & 0xFF))
            if padding < 2 { out.append(UInt8(n >> 8 & 0xFF)) }
            if padding < 1 { out.append(UInt8(n & 0xFF)) }
            i += 4
        }
        return out
    }

    private static func value(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"): c - UInt8(ascii: "A")
        case UInt8(ascii: "a")...UInt8(ascii: "z"): c - UInt8(ascii: "a") + 26
        case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0") + 52
        case UInt8(ascii: "+"): 62
        case UInt8(ascii: "/"): 63
        default: nil
        }
    }
}
