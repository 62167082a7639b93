import COpenSSL

/// JWS compact serialization (RFC 7515) for JWTs: the signature and the header's `alg` are
/// checked here, the claims by the caller. Only the algorithms a `JWSKeys` holds are accepted:
/// `none` never, and HS256 only with a secret, so a token signed with the public key as an
/// HMAC secret (the HS/RS confusion) is refused when only a public key is configured.
public enum JWSAlgorithm: String, Sendable {
    case hs256 = "HS256", rs256 = "RS256", es256 = "ES256"
}

public enum JWSError: Error, Equatable, Sendable {
    case malformed(String)
    case unsupportedAlgorithm(String)
    case badSignature
}

/// A PEM public key (RSA → RS256, P-256 → ES256), read once at startup.
public final class JWSPublicKey: @unchecked Sendable {  // EVP_PKEY is read-only after loading; OpenSSL allows concurrent verifies
    fileprivate let key: OpaquePointer
    public let algorithm: JWSAlgorithm

    public struct Invalid: Error, CustomStringConvertible {
        public let description: String
    }

    public init(pem: [UInt8]) throws {
        let loaded: OpaquePointer? = pem.withUnsafeBytes { raw in
            guard let bio = BIO_new_mem_buf(raw.baseAddress, Int32(raw.count)) else { return nil }
            defer { BIO_free(bio) }
            return PEM_read_bio_PUBKEY(bio, nil, nil, nil)
        }
        guard let loaded else { throw Invalid(description: "not a PEM public key (-----BEGIN PUBLIC KEY-----)") }
        let bits = EVP_PKEY_get_bits(loaded)
        switch EVP_PKEY_get_base_id(loaded) {
        case EVP_PKEY_RSA where bits >= 2048:
            algorithm = .rs256
        case EVP_PKEY_EC where Self.curveName(loaded) == "prime256v1":  // P-256, not any 256-bit curve (secp256k1)
            algorithm = .es256
        default:
            EVP_PKEY_free(loaded)
            throw Invalid(description: "the public key must be RSA (2048 bits or more, RS256) or EC P-256 (ES256)")
        }
        key = loaded
    }

    deinit { EVP_PKEY_free(key) }

    private static func curveName(_ key: OpaquePointer) -> String? {
        var name = [CChar](repeating: 0, count: 64)
        var length = 0
        guard EVP_PKEY_get_group_name(key, &name, name.count, &length) == 1 else { return nil }
        return String(decoding: name.prefix(length).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    fileprivate func verify(message: [UInt8], signature: [UInt8]) -> Bool {
        guard let context = EVP_MD_CTX_new() else { return false }
        defer { EVP_MD_CTX_free(context) }
        guard EVP_DigestVerifyInit(context, nil, EVP_sha256(), nil, key) == 1 else { return false }
        let ok = message.withUnsafeBufferPointer { m in
            signature.withUnsafeBufferPointer { s in
                EVP_DigestVerify(context, s.baseAddress, s.count, m.baseAddress, m.count)
            }
        }
        return ok == 1
    }
}

/// What a deployment accepts: an HS256 secret, a public key, or both.
public struct JWSKeys: Sendable {
    public let secret: [UInt8]?
    public let publicKey: JWSPublicKey?

    public init(secret: [UInt8]?, publicKey: JWSPublicKey?) {
        self.secret = secret
        self.publicKey = publicKey
    }

    public var algorithms: [JWSAlgorithm] {
        (secret == nil ? [] : [.hs256]) + (publicKey.map { [$0.algorithm] } ?? [])
    }

    /// The payload bytes (the claims JSON) of a token whose signature verifies.
    public func verify(_ token: String) -> Result<[UInt8], JWSError> {
        let parts = token.utf8.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false)
        guard parts.count == 3 else { return .failure(.malformed("a token has three dot-separated parts")) }
        guard let headerBytes = Base64URL.decode(parts[0]), let payload = Base64URL.decode(parts[1]),
              let signature = Base64URL.decode(parts[2]) else {
            return .failure(.malformed("token parts must be base64url"))
        }
        guard let alg = JWSHeader.algorithm(headerBytes) else {
            return .failure(.malformed("token header must be a JSON object with a string alg"))
        }
        let signed = Array(parts[0]) + [UInt8(ascii: ".")] + Array(parts[1])
        switch JWSAlgorithm(rawValue: alg) {
        case .hs256? where secret != nil:
            let expected = HMACSHA256.mac(key: secret!, message: signed)
            return ConstantTime.equals(expected, signature) ? .success(payload) : .failure(.badSignature)
        case let algorithm? where algorithm != .hs256 && publicKey?.algorithm == algorithm:
            let der: [UInt8]
            if algorithm == .es256 {
                guard let converted = ECDSASignature.der(fromRaw: signature) else { return .failure(.badSignature) }
                der = converted
            } else {
                der = signature
            }
            return publicKey!.verify(message: signed, signature: der) ? .success(payload) : .failure(.badSignature)
        default:
            // Never echo the header's value beyond a short, printable prefix.
            let shown = String(alg.unicodeScalars.filter { $0.isASCII && $0.value >= 0x20 && $0.value < 0x7F }.prefix(16).map(Character.init))
            return .failure(.unsupportedAlgorithm(shown))
        }
    }

    /// HS256 compact token over the given claims JSON (minting).
    public static func signHS256(claimsJSON: [UInt8], secret: [UInt8]) -> String {
        let header = Base64URL.encode(Array(#"{"alg":"HS256","typ":"JWT"}"#.utf8))
        let signingInput = header + "." + Base64URL.encode(claimsJSON)
        return signingInput + "." + Base64URL.encode(HMACSHA256.mac(key: secret, message: Array(signingInput.utf8)))
    }
}

/// ES256 in JWS is raw r||s (RFC 7518 §3.4); OpenSSL verifies DER (an ECDSA-Sig-Value).
enum ECDSASignature {
    static func der(fromRaw raw: [UInt8]) -> [UInt8]? {
        guard raw.count == 64, let signature = ECDSA_SIG_new() else { return nil }
        defer { ECDSA_SIG_free(signature) }
        let r = raw.withUnsafeBufferPointer { BN_bin2bn($0.baseAddress, 32, nil) }
        let s = raw.withUnsafeBufferPointer { BN_bin2bn($0.baseAddress! + 32, 32, nil) }
        guard let r, let s else {
            BN_free(r)
            BN_free(s)
            return nil
        }
        guard ECDSA_SIG_set0(signature, r, s) == 1 else {
            BN_free(r)
            BN_free(s)
            return nil
        }
        let length = i2d_ECDSA_SIG(signature, nil)
        guard length > 0 else { return nil }
        var out = [UInt8](repeating: 0, count: Int(length))
        let written = out.withUnsafeMutableBufferPointer { buffer -> Int32 in
            var cursor: UnsafeMutablePointer<UInt8>? = buffer.baseAddress
            return i2d_ECDSA_SIG(signature, &cursor)
        }
        return written == length ? out : nil
    }
}
