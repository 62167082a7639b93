import Foundation
import SBCore
import SBCrypto
import SBHTTP
import SBServer

/// `POST /api/tokens`: an application backend, holding the key, mints an HS256 token for a
/// dashboard with exactly its sessions and scopes.
enum TokensAPI {
    static let maxTTLSeconds = 86_400
    static let defaultTTLSeconds = 3600

    static func mint(_ request: HTTPRequest, settings: TokenSettings?, keyConfigured: Bool,
                     nowMillis: Int64 = WallClock.millisecondsSinceEpoch(), _ done: @escaping (HTTPResponse) -> Void) {
        // Without a key every caller would be "the key holder": minting stays off. A route off by
        // configuration answers 404 with the reason, like /echo: the server did not fail, so no 5xx.
        guard keyConfigured else {
            return done(Reply.error(.notFound("minting tokens is off: it needs API_KEY to be set (it authenticates the minter)")))
        }
        guard let settings, let secret = settings.keys.secret else {
            return done(Reply.error(.notFound("minting tokens is off: it needs TOKEN_SECRET (HS256); this server has none")))
        }
        let object: [String: Any]
        switch JSONBody.object(request) {
        case .failure(let failure): return done(Reply.error(.from(failure)))
        case .success(let value): object = value
        }
        switch claims(object, settings: settings, nowMillis: nowMillis) {
        case .failure(let error): done(Reply.error(error))
        case .success(let (claims, exp)):
            let token = JWSKeys.signHS256(claimsJSON: JSONBody.encode(claims), secret: secret)
            done(Reply.json(201, ["token": token, "exp": exp, "expiresAt": ISO8601.format(milliseconds: exp * 1000)]))
        }
    }

    /// The claims to sign and `exp` (seconds), or a 400 naming the field.
    static func claims(_ object: [String: Any], settings: TokenSettings, nowMillis: Int64) -> Result<([String: Any], Int64), HubError> {
        guard let sub = object["sub"] as? String, !sub.isEmpty, sub.utf8.count <= 200 else {
            return .failure(.badRequest("sub is required and must be a string of 1-200 characters"))
        }
        guard let sessions = object["sessions"] as? [Any], !sessions.isEmpty, sessions.count <= 1000,
              sessions.allSatisfy({ ($0 as? String).map(TokenGrant.isValidPattern) ?? false }) else {
            return .failure(.badRequest("sessions is required: an array of 1-1000 session ids or prefixes ending in *"))
        }
        let scopeNames = Scope.allCases.map(\.rawValue)
        guard let scope = object["scope"] as? [Any], !scope.isEmpty,
              scope.allSatisfy({ ($0 as? String).map(scopeNames.contains) ?? false }) else {
            return .failure(.badRequest("scope is required: a non-empty array of \(scopeNames.joined(separator: ", "))"))
        }
        let limit = min(maxTTLSeconds, Int(settings.maxTTLSeconds))
        var ttl = min(defaultTTLSeconds, limit)
        if let raw = object["ttl"], !(raw is NSNull) {
            guard let number = raw as? NSNumber, !Field.isJSONBoolean(number), let seconds = Int(exactly: number.doubleValue),
                  (1...limit).contains(seconds) else {
                return .failure(.badRequest("ttl must be an integer number of seconds from 1 to \(limit)"))
            }
            ttl = seconds
        }
        let iat = nowMillis / 1000
        let exp = iat + Int64(ttl)
        var claims: [String: Any] = ["sub": sub, "sessions": sessions, "scope": scope, "iat": iat, "exp": exp]
        // So the token passes this server's own checks.
        if let issuer = settings.issuer { claims["iss"] = issuer }
        if let audience = settings.audience { claims["aud"] = audience }
        return .success((claims, exp))
    }
}
