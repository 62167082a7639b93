public import Foundation
import SBCrypto

/// TOKEN_* settings: which keys verify tokens and which claims are checked.
public struct TokenSettings: Sendable {
    let keys: JWSKeys
    let issuer: String?
    let audience: String?
    let leewaySeconds: Int64
    /// TOKEN_EXPIRY_NOTICE: how long before `exp` a WebSocket gets `token_expiring`.
    let expiryNoticeSeconds: Int64
    /// TOKEN_MAX_TTL: the longest lifetime accepted, for tokens minted here and elsewhere.
    let maxTTLSeconds: Int64
    /// Longer tokens are refused before any decoding (401).
    static let maxTokenBytes = 8192

    public struct Invalid: Error, CustomStringConvertible {
        public let description: String
    }

    /// nil when neither a secret nor a public key is given (tokens off).
    public init?(secret: String?, publicKeyPEM: Data?, issuer: String?, audience: String?,
                 leewaySeconds: Int, expiryNoticeSeconds: Int, maxTTLSeconds: Int = 86_400) throws {
        guard secret != nil || publicKeyPEM != nil else { return nil }
        if let secret, secret.utf8.count < 32 {
            throw Invalid(description: "TOKEN_SECRET must be at least 32 bytes (HS256 needs a key as long as its hash)")
        }
        var publicKey: JWSPublicKey?
        if let publicKeyPEM {
            do {
                publicKey = try JWSPublicKey(pem: [UInt8](publicKeyPEM))
            } catch let invalid as JWSPublicKey.Invalid {
                throw Invalid(description: "TOKEN_PUBLIC_KEY: \(invalid.description)")
            }
        }
        keys = JWSKeys(secret: secret.map { Array($0.utf8) }, publicKey: publicKey)
        self.issuer = issuer
        self.audience = audience
        self.leewaySeconds = Int64(leewaySeconds)
        self.expiryNoticeSeconds = Int64(expiryNoticeSeconds)
        self.maxTTLSeconds = Int64(maxTTLSeconds)
    }

    var canMint: Bool { keys.secret != nil }

    /// e.g. "HS256, ES256": for logs and the unsupported-algorithm message.
    public var algorithmNames: String { keys.algorithms.map(\.rawValue).joined(separator: ", ") }
}
