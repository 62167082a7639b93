import Foundation
import SBCore
import SBCrypto

/// Why a token was refused; each cause has its own 401 message. None of them repeats the token
/// or anything derived from the key.
enum TokenFailure: Error, Equatable {
    case tooLarge
    case malformed(String)
    case unsupportedAlgorithm(String)
    case badSignature
    case expired
    case notYetValid
    case wrongIssuer
    case wrongAudience
    case lifetimeTooLong(Int64)
    case issuedInFuture
    case repeatedClaim(String)

    var message: String {
        switch self {
        case .tooLarge: "token too large (at most \(TokenSettings.maxTokenBytes) bytes)"
        case .malformed(let why): "malformed token: \(why)"
        case .unsupportedAlgorithm(let alg): "token algorithm '\(alg)' is not accepted"
        case .badSignature: "token signature is invalid"
        case .expired: "token expired"
        case .notYetValid: "token not yet valid (nbf)"
        case .wrongIssuer: "token issuer is not accepted"
        case .wrongAudience: "token audience is not accepted"
        case .lifetimeTooLong(let max): "token lifetime is longer than this server accepts (exp at most \(max) s after now and after iat: TOKEN_MAX_TTL)"
        case .issuedInFuture: "token issued in the future (iat)"
        case .repeatedClaim(let name): "token repeats the claim \(name)"
        }
    }

    var error: HubError {
        HubError(status: 401, message: message, headers: [("WWW-Authenticate", "Bearer error=\"invalid_token\"")])
    }
}

/// Signature (SBCrypto) then claims: `exp` required, `nbf`, `iss`, `aud` with leeway;
/// `sub`, `sessions`, `scope` shaped as the hub needs them.
struct TokenVerifier: Sendable {
    let settings: TokenSettings

    func verify(_ token: String, nowMillis: Int64) -> Result<TokenGrant, TokenFailure> {
        guard token.utf8.count <= TokenSettings.maxTokenBytes else { return .failure(.tooLarge) }
        let payload: [UInt8]
        switch settings.keys.verify(token) {
        case .failure(.malformed(let why)): return .failure(.malformed(why))
        case .failure(.unsupportedAlgorithm(let alg)): return .failure(.unsupportedAlgorithm(alg))
        case .failure(.badSignature): return .failure(.badSignature)
        case .success(let bytes): payload = bytes
        }
        // Strict first: the claims are one JSON object in which no claim this server knows
        // appears twice (JSONSerialization would silently keep the last one, so a token could
        // read one way here and another way to a different verifier).
        var info: [UInt8]?
        switch JSONScanner.scan(payload, keys: Self.claimNames, maxElements: 1) {
        case .failure: return .failure(.malformed("claims must be a JSON object"))
        case .success(let document):
            guard document.root.kind == .object else { return .failure(.malformed("claims must be a JSON object")) }
            if let repeated = document.root.repeatedKey { return .failure(.repeatedClaim(Self.claimNames.names[repeated])) }
            // `info` (what presence shows of this client) is kept as the token's own bytes.
            let member = document.member(Self.infoClaim, of: document.root)
            if member.isPresent {
                guard member.kind == .object else { return .failure(.malformed("info must be a JSON object")) }
                info = Array(payload[member.range])
            }
        }
        guard let claims = try? JSONSerialization.jsonObject(with: Data(payload)) as? [String: Any] else {
            return .failure(.malformed("claims must be a JSON object"))
        }
        return check(claims, nowMillis: nowMillis).map { grant in
            var grant = grant
            grant.infoClaim = info
            return grant
        }
    }

    /// `info`'s index in `claimNames`.
    static let infoClaim = 9

    /// The registered claims (RFC 7519 §4.1) and this server's own: a repeat of any is refused.
    static let claimNames = JSONKeyTable(["iss", "sub", "aud", "exp", "nbf", "iat", "jti", "sessions", "scope", "info"])

    func check(_ claims: [String: Any], nowMillis: Int64) -> Result<TokenGrant, TokenFailure> {
        let leeway = settings.leewaySeconds * 1000
        guard let exp = Self.numericDate(claims["exp"]) else { return .failure(.malformed("exp is required and must be a number")) }
        if let raw = claims["nbf"] {
            guard let nbf = Self.numericDate(raw) else { return .failure(.malformed("nbf must be a number")) }
            if nowMillis + leeway < nbf { return .failure(.notYetValid) }
        }
        var iat: Int64?
        if let raw = claims["iat"] {
            guard let issued = Self.numericDate(raw) else { return .failure(.malformed("iat must be a number")) }
            if issued > nowMillis + leeway { return .failure(.issuedInFuture) }
            iat = issued
        }
        if nowMillis - leeway >= exp { return .failure(.expired) }
        // A token valid for years is a key that cannot be rotated: refuse lifetimes past
        // TOKEN_MAX_TTL, counted from now (leeway allowed) and from iat when given.
        let maxTTL = settings.maxTTLSeconds * 1000
        if exp - nowMillis > maxTTL + leeway || (iat.map { exp - $0 > maxTTL } ?? false) {
            return .failure(.lifetimeTooLong(settings.maxTTLSeconds))
        }
        if let issuer = settings.issuer, claims["iss"] as? String != issuer { return .failure(.wrongIssuer) }
        if let audience = settings.audience {
            let matches = switch claims["aud"] {
            case let one as String: one == audience
            case let many as [Any]: many.contains { $0 as? String == audience }
            default: false
            }
            if !matches { return .failure(.wrongAudience) }
        }
        guard let subject = claims["sub"] as? String, !subject.isEmpty, subject.utf8.count <= 200 else {
            return .failure(.malformed("sub is required and must be a string of 1-200 characters"))
        }
        var sessions: [String] = []
        if let raw = claims["sessions"] {
            guard let list = raw as? [Any], list.count <= 1000 else { return .failure(.malformed("sessions must be an array of at most 1000 strings")) }
            for item in list {
                guard let pattern = item as? String, TokenGrant.isValidPattern(pattern) else {
                    return .failure(.malformed("sessions must hold session ids or prefixes ending in *"))
                }
                sessions.append(pattern)
            }
        }
        var scopes: Set<Scope> = []
        if let raw = claims["scope"] {
            // An array, or an OAuth-style space-separated string (RFC 8693 §4.2).
            let names: [Any]? = (raw as? [Any]) ?? (raw as? String).map { $0.split(separator: " ").map(String.init) }
            guard let names else { return .failure(.malformed("scope must be an array of strings")) }
            for name in names {
                guard let text = name as? String, let scope = Scope(rawValue: text) else {
                    return .failure(.malformed("scope values must be \(Scope.allCases.map(\.rawValue).joined(separator: ", "))"))
                }
                scopes.insert(scope)
            }
        }
        return .success(TokenGrant(subject: subject, expiresAtMillis: exp, sessions: sessions, scopes: scopes))
    }

    /// RFC 7519 NumericDate (seconds, fractions allowed) as milliseconds; booleans are not numbers.
    static func numericDate(_ value: Any?) -> Int64? {
        guard let number = value as? NSNumber, !Field.isJSONBoolean(number) else { return nil }
        let seconds = number.doubleValue
        guard seconds.isFinite, seconds >= 0, seconds < 1e11 else { return nil }
        return Int64(seconds * 1000)
    }
}
