import Foundation
import XCTest
@testable import SBHub
import SBCrypto

/// Claims checks of `TokenVerifier` and the scope checks of `TokenGrant`/`Access`/`RouteAccess`.
final class TokenClaimsTests: XCTestCase {
    static let secret = "0123456789abcdef0123456789abcdef"
    let now: Int64 = 1_800_000_000_000  // ms

    func verifier(issuer: String? = nil, audience: String? = nil, leeway: Int = 30) throws -> TokenVerifier {
        TokenVerifier(settings: try XCTUnwrap(TokenSettings(secret: Self.secret, publicKeyPEM: nil, issuer: issuer,
                                                            audience: audience, leewaySeconds: leeway, expiryNoticeSeconds: 60)))
    }

    func sign(_ claims: [String: Any]) -> String {
        JWSKeys.signHS256(claimsJSON: JSONBody.encode(claims), secret: Array(Self.secret.utf8))
    }

    func base(_ extra: [String: Any] = [:]) -> [String: Any] {
        var claims: [String: Any] = ["sub": "dash", "exp": now / 1000 + 600, "sessions": ["s1", "team-*"], "scope": ["read", "subscribe"]]
        for (key, value) in extra { claims[key] = value }
        return claims
    }

    func failure(_ result: Result<TokenGrant, TokenFailure>) -> TokenFailure? {
        if case .failure(let failure) = result { return failure }
        return nil
    }

    func testValidTokenGivesItsGrant() throws {
        let grant = try verifier().verify(sign(base()), nowMillis: now).get()
        XCTAssertEqual(grant.subject, "dash")
        XCTAssertEqual(grant.expiresAtMillis, (now / 1000 + 600) * 1000)
        XCTAssertEqual(grant.scopes, [.read, .subscribe])
        XCTAssertEqual(grant.sessions, ["s1", "team-*"])
    }

    /// Presence shows `sub` and the `info` claim as the token carries it; `info` must be an object.
    func testTheInfoClaimIsKeptForPresence() throws {
        let v = try verifier()
        let plain = try v.verify(sign(base()), nowMillis: now).get()
        XCTAssertNil(plain.infoClaim)
        XCTAssertEqual(String(decoding: plain.presenceInfo, as: UTF8.self), "{\"sub\":\"dash\"}")
        let token = JWSKeys.signHS256(claimsJSON: Array("{\"sub\":\"dash-1\",\"exp\":\(now / 1000 + 60),\"info\":{\"name\":\"Ada\",\"n\":[1, 2]}}".utf8),
                                      secret: Array(Self.secret.utf8))
        let grant = try v.verify(token, nowMillis: now).get()
        XCTAssertEqual(String(decoding: grant.presenceInfo, as: UTF8.self), "{\"sub\":\"dash-1\",\"info\":{\"name\":\"Ada\",\"n\":[1, 2]}}",
                       "the claim's own bytes")
        XCTAssertEqual(failure(v.verify(sign(base(["info": "Ada"])), nowMillis: now)), .malformed("info must be a JSON object"))
        XCTAssertEqual(failure(v.verify(sign(base(["info": ["a"]])), nowMillis: now)), .malformed("info must be a JSON object"))
        XCTAssertEqual(String(decoding: Access.full.presenceInfo, as: UTF8.self), "{}")
    }

    func testTimeClaimsWithLeeway() throws {
        let v = try verifier(leeway: 30)
        let nowS = now / 1000
        // Table: claims → failure (nil = accepted).
        let rows: [([String: Any], TokenFailure?)] = [
            (["exp": nowS - 10], nil),                       // expired, within leeway
            (["exp": nowS - 31], .expired),
            (["exp": nowS - 30], .expired),
            (["nbf": nowS + 20], nil),                       // not yet valid, within leeway
            (["nbf": nowS + 31], .notYetValid),
            (["exp": "tomorrow"], .malformed("exp is required and must be a number")),
            (["exp": true], .malformed("exp is required and must be a number")),
            (["nbf": "soon"], .malformed("nbf must be a number")),
            (["iat": "then"], .malformed("iat must be a number")),
            (["iat": nowS + 30], nil),                       // issued in the future, within leeway
            (["iat": nowS + 31], .issuedInFuture),
            (["exp": nowS + 86_400 + 30], nil),              // TOKEN_MAX_TTL (default one day) + leeway
            (["exp": nowS + 86_400 + 31], .lifetimeTooLong(86_400)),
            (["exp": 99_999_999_999], .lifetimeTooLong(86_400)),
            (["iat": nowS - 100, "exp": nowS + 86_300], nil),   // exactly TOKEN_MAX_TTL after iat
            (["iat": nowS - 101, "exp": nowS + 86_300], .lifetimeTooLong(86_400)),
        ]
        for (extra, expected) in rows {
            XCTAssertEqual(failure(v.verify(sign(base(extra)), nowMillis: now)), expected, "\(extra)")
        }
        var noExp = base()
        noExp["exp"] = nil
        XCTAssertEqual(failure(v.verify(sign(noExp), nowMillis: now)), .malformed("exp is required and must be a number"))
        XCTAssertEqual(failure(try verifier(leeway: 0).verify(sign(base(["exp": nowS - 1])), nowMillis: now)), .expired)
    }

    func testRepeatedClaimsAreRefused() throws {
        let v = try verifier()
        let nowS = now / 1000
        func signed(_ json: String) -> String { JWSKeys.signHS256(claimsJSON: Array(json.utf8), secret: Array(Self.secret.utf8)) }
        let good = #"{"sub":"dash","exp":\#(nowS + 60),"sessions":["s1"],"scope":["read"],"x":1,"x":2}"#
        XCTAssertNil(failure(v.verify(signed(good), nowMillis: now)), "an unknown claim is never read")
        for name in ["sub", "exp", "sessions", "scope", "iat", "aud"] {
            let value = name == "sub" ? #""other""# : name == "sessions" || name == "scope" || name == "aud" ? #"["read"]"# : "\(nowS)"
            let json = #"{"sub":"dash","exp":\#(nowS + 60),"sessions":["s1"],"scope":["read"],"iat":\#(nowS),"aud":"a","\#(name)":\#(value)}"#
            XCTAssertEqual(failure(v.verify(signed(json), nowMillis: now)), .repeatedClaim(name), json)
        }
        XCTAssertEqual(failure(v.verify(signed("[1]"), nowMillis: now)), .malformed("claims must be a JSON object"))
    }

    func testIssuerAndAudience() throws {
        let v = try verifier(issuer: "https://app.example", audience: "switchboard")
        let rows: [([String: Any], TokenFailure?)] = [
            (["iss": "https://app.example", "aud": "switchboard"], nil),
            (["iss": "https://app.example", "aud": ["other", "switchboard"]], nil),
            (["iss": "https://evil.example", "aud": "switchboard"], .wrongIssuer),
            (["aud": "switchboard"], .wrongIssuer),
            (["iss": "https://app.example", "aud": "other"], .wrongAudience),
            (["iss": "https://app.example", "aud": ["other"]], .wrongAudience),
            (["iss": "https://app.example"], .wrongAudience),
        ]
        for (extra, expected) in rows {
            XCTAssertEqual(failure(v.verify(sign(base(extra)), nowMillis: now)), expected, "\(extra)")
        }
        // Unconfigured: not checked.
        XCTAssertNil(failure(try verifier().verify(sign(base(["iss": "anyone", "aud": 5])), nowMillis: now)))
    }

    func testShapeOfSubSessionsScope() throws {
        let v = try verifier()
        XCTAssertEqual(failure(v.verify(sign(base(["sub": 7])), nowMillis: now)),
                       .malformed("sub is required and must be a string of 1-200 characters"))
        XCTAssertNotNil(failure(v.verify(sign(base(["sessions": "s1"])), nowMillis: now)))
        XCTAssertNotNil(failure(v.verify(sign(base(["sessions": ["bad id!"]])), nowMillis: now)))
        XCTAssertNotNil(failure(v.verify(sign(base(["sessions": ["a*b"]])), nowMillis: now)))
        XCTAssertNotNil(failure(v.verify(sign(base(["scope": ["read", "admin"]])), nowMillis: now)))
        XCTAssertEqual(try v.verify(sign(base(["scope": "read publish"])), nowMillis: now).get().scopes, [.read, .publish])
        XCTAssertEqual(failure(v.verify(String(repeating: "a", count: 8193), nowMillis: now)), .tooLarge)
        XCTAssertEqual(failure(v.verify(sign(base()) + "x", nowMillis: now)), .badSignature)
    }

    func testGrantCoversIdsAndPrefixes() {
        let grant = TokenGrant(subject: "d", expiresAtMillis: 0, sessions: ["s1", "team-*"], scopes: [.read])
        XCTAssertTrue(grant.covers("s1"))
        XCTAssertFalse(grant.covers("s10"), "an id is not a prefix")
        XCTAssertTrue(grant.covers("team-"))
        XCTAssertTrue(grant.covers("team-42"))
        XCTAssertFalse(grant.covers("teams"))
        XCTAssertTrue(grant.allows(.read, on: "team-1"))
        XCTAssertFalse(grant.allows(.publish, on: "team-1"))
        let everything = TokenGrant(subject: "d", expiresAtMillis: 0, sessions: ["*"], scopes: Set(Scope.allCases))
        XCTAssertTrue(everything.allows(.command, on: "anything"))
        XCTAssertTrue(Access.full.allows(.command, on: "x"))
    }

    /// The route → scope table of the README, row by row.
    func testRouteTable() {
        let rows: [(Route, RouteAccess)] = [
            (.health, .open), (.ready, .open),
            (.metrics, .keyOnly), (.mintToken, .keyOnly), (.ackCommand(id: "c"), .keyOnly),
            (.postEvents, .inHandler(.publish)), (.createSession, .inHandler(.publish)),
            (.listSessions, .inHandler(.read)), (.getChain(id: "c"), .inHandler(.read)),
            (.getEvents(sessionId: "s"), .session("s", .read)), (.recentEvents(sessionId: "s"), .session("s", .read)),
            (.getSession(id: "s"), .session("s", .read)), (.listChains(sessionId: "s"), .session("s", .read)),
            (.updateSession(id: "s"), .session("s", .publish)), (.deleteSession(id: "s"), .session("s", .publish)),
            (.addChain(sessionId: "s"), .session("s", .publish)),
            (.postInput(sessionId: "s"), .session("s", .input)), (.drainInput(sessionId: "s"), .session("s", .input)),
            (.postCommand(sessionId: "s"), .session("s", .command)), (.drainCommands(sessionId: "s"), .session("s", .command)),
            (.webSocket, .authenticated),
        ]
        for (route, expected) in rows { XCTAssertEqual(RouteAccess.of(route), expected, route.metricLabel) }

        let reader = Access.token(TokenGrant(subject: "d", expiresAtMillis: 0, sessions: ["s"], scopes: [.read]))
        XCTAssertNil(RouteAccess.check(.getEvents(sessionId: "s"), reader))
        XCTAssertEqual(RouteAccess.check(.getEvents(sessionId: "t"), reader)?.status, 403)
        XCTAssertEqual(RouteAccess.check(.getEvents(sessionId: "t"), reader)?.message, "token does not grant 'read' on session 't'")
        XCTAssertEqual(RouteAccess.check(.deleteSession(id: "s"), reader)?.status, 403)
        XCTAssertEqual(RouteAccess.check(.metrics, reader)?.status, 403)
        XCTAssertEqual(RouteAccess.check(.mintToken, reader)?.status, 403)
        XCTAssertNil(RouteAccess.check(.metrics, .full))
        XCTAssertNil(RouteAccess.check(.drainCommands(sessionId: "x"), .full))
    }

    func testMintingValidation() throws {
        let settings = try XCTUnwrap(TokenSettings(secret: Self.secret, publicKeyPEM: nil, issuer: "iss", audience: "aud",
                                                   leewaySeconds: 30, expiryNoticeSeconds: 60))
        let good: [String: Any] = ["sub": "dash", "sessions": ["s1"], "scope": ["subscribe"], "ttl": 120]
        let (claims, exp) = try TokensAPI.claims(good, settings: settings, nowMillis: now).get()
        XCTAssertEqual(exp, now / 1000 + 120)
        XCTAssertEqual(claims["iss"] as? String, "iss")
        XCTAssertEqual(claims["aud"] as? String, "aud")
        XCTAssertEqual(claims["iat"] as? Int64, now / 1000)
        let bad: [(String, Any, String)] = [
            ("sub", 5, "sub"), ("sessions", [], "sessions"), ("sessions", ["no spaces"], "sessions"),
            ("scope", ["root"], "scope"), ("scope", [], "scope"), ("ttl", 86_401, "ttl"), ("ttl", 0, "ttl"), ("ttl", 1.5, "ttl"),
            ("ttl", true, "ttl"),
        ]
        for (field, value, named) in bad {
            var body = good
            body[field] = value
            guard case .failure(let error) = TokensAPI.claims(body, settings: settings, nowMillis: now) else {
                XCTFail("\(field)=\(value) accepted")
                continue
            }
            XCTAssertEqual(error.status, 400)
            XCTAssertTrue(error.message.hasPrefix(named), error.message)
        }
        // What is minted verifies here, with its sessions and scopes.
        let token = JWSKeys.signHS256(claimsJSON: JSONBody.encode(claims), secret: Array(Self.secret.utf8))
        let grant = try TokenVerifier(settings: settings).verify(token, nowMillis: now).get()
        XCTAssertEqual(grant.scopes, [.subscribe])
        XCTAssertEqual(grant.sessions, ["s1"])
    }

    func testSettings() throws {
        XCTAssertNil(try TokenSettings(secret: nil, publicKeyPEM: nil, issuer: nil, audience: nil, leewaySeconds: 30, expiryNoticeSeconds: 60))
        XCTAssertThrowsError(try TokenSettings(secret: "short", publicKeyPEM: nil, issuer: nil, audience: nil, leewaySeconds: 30, expiryNoticeSeconds: 60))
        XCTAssertThrowsError(try TokenSettings(secret: nil, publicKeyPEM: Data("junk".utf8), issuer: nil, audience: nil, leewaySeconds: 30, expiryNoticeSeconds: 60))
    }
}
