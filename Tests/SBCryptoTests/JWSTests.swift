import XCTest
import SBCrypto
import Foundation

/// JWS verification against tokens signed by PyJWT (an independent implementation), fixed here
/// so the unit suite needs no Python. Keys were generated for these tests only.
final class JWSTests: XCTestCase {
    static let secret = Array("0123456789abcdef0123456789abcdef".utf8)
    static let claims = #"{"sub":"vector","exp":4102444800,"sessions":["s1"],"scope":["read"]}"#
    static let rsaPEM = """
-----BEGIN PUBLIC KEY-----
MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA2WGKeSqcH49GbkAprCoj
ulXYYatsJYN+nlWV08gvCe/Q1Oq4RiGR6rrBjpTq2YPWn82LDlswAmRuZr3YwzsP
sngbtbt9NQLlcgI5+7zouBPpZeegj4OkSXE8dioP3ld5W3b19cJ3LaXL/Vqkq4cS
ouM9x1kEMCQJYQb4eUYPFDmHNFeOFxu2H2cqTCv3ieRMa2KJDjFQ5eyqTIC/WGaD
iqwkADsf0uZROJD4anIrCCmYBsT+CwUDQtIm5huLRiBuIvD9yYMaEoBu4URVvJVd
WlH73EgkPqkCu2o52bR5VwKkNsRuPOdg7pca4rJz4be4nN/M6mPNjZoO6bFvi/Vk
iwIDAQAB
-----END PUBLIC KEY-----
"""
    static let ecPEM = """
-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEyctHRBwdRkO+l472naFgP2ar8S4o
ztLuyycf6RyQUVVtx+kDRVxdyhZWKOWf/6ZyMoTW5TaHzcKxJJMRmkolqg==
-----END PUBLIC KEY-----
"""
    static let ec384PEM = """
-----BEGIN PUBLIC KEY-----
MHYwEAYHKoZIzj0CAQYFK4EEACIDYgAEcz7zE4Ffvh45/lgKQ6E5eyGInLtnACST
i5eTcSRsvVoqQ21QMS0hGCvcQNsSMFSnQUA/uhkRvj5mfzAbnezfInKRh0hgNehL
++bsv23pGfo0nnTmnL4SU4rliaYj7lXr
-----END PUBLIC KEY-----
"""
    static let rs256 = "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJ2ZWN0b3IiLCJleHAiOjQxMDI0NDQ4MDAsInNlc3Npb25zIjpbInMxIl0sInNjb3BlIjpbInJlYWQiXX0.bNYOedh1QWpszlKlqeAGhA5r_89NzC5KyTMQv2i222nXlu1SPDloWEjmgkDQWvZJnW30kvEtWeTvz0mpZ26y48imgq1TX8FjzppWTyxBICQrD8cCWfrqntESZsaBOtzYOIhfC26R3WYZZEuWa-SqBJWBxwuqdY0i4RQ3Ch41z2kfyRc1aWH8l_GKitRd8sytS_HqLs_PwG8Jf1eAqCrwTyzM934Z3hBJrZnipeBxxn3fAjxLTzIaQ598ElXbRbeuCCg7IKqPefzXN0pNAzPdIwGu4YDdk2Hp1QA3lHbxFnuy1-1UC_gkXNJeILo4QwDEEJwH0DpUE1j2GbWJV_z2yA"
    static let es256 = "eyJhbGciOiJFUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJ2ZWN0b3IiLCJleHAiOjQxMDI0NDQ4MDAsInNlc3Npb25zIjpbInMxIl0sInNjb3BlIjpbInJlYWQiXX0.v2sZNSr0E1RGsfuWnvSF-29wFMxpWtx8aan1UXtGQQ2EN-BQllrxwH7Wgxrt7iD7uDpa5oLup7TZlafnEnYP8g"
    static let hs256 = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJ2ZWN0b3IiLCJleHAiOjQxMDI0NDQ4MDAsInNlc3Npb25zIjpbInMxIl0sInNjb3BlIjpbInJlYWQiXX0.p_DMcuv3BE_SEC2INr9B6zyGmApcWlc5JTIO6SwvXqg"
    /// HS256 keyed with the RSA public key's PEM text: the classic HS/RS confusion.
    static let hsWithPublicPEM = "eyJhbGciOiAiSFMyNTYiLCAidHlwIjogIkpXVCJ9.eyJzdWIiOiAidmVjdG9yIiwgImV4cCI6IDQxMDI0NDQ4MDAsICJzZXNzaW9ucyI6IFsiczEiXSwgInNjb3BlIjogWyJyZWFkIl19.T-UDD044vUo-rquJakssn4R-6ErGPJhygbKjmj82tOA"
    static let none = "eyJhbGciOiAibm9uZSJ9.eyJzdWIiOiAidmVjdG9yIiwgImV4cCI6IDQxMDI0NDQ4MDAsICJzZXNzaW9ucyI6IFsiczEiXSwgInNjb3BlIjogWyJyZWFkIl19."

    func key(_ pem: String) throws -> JWSPublicKey { try JWSPublicKey(pem: Array(pem.utf8)) }

    func claims(_ result: Result<[UInt8], JWSError>) -> String? {
        guard case .success(let bytes) = result else { return nil }
        return String(decoding: bytes, as: UTF8.self)
    }

    func testEachAlgorithmVerifiesItsOwnTokens() throws {
        XCTAssertEqual(claims(JWSKeys(secret: Self.secret, publicKey: nil).verify(Self.hs256)), Self.claims)
        let rsa = try key(Self.rsaPEM)
        XCTAssertEqual(rsa.algorithm, .rs256)
        XCTAssertEqual(claims(JWSKeys(secret: nil, publicKey: rsa).verify(Self.rs256)), Self.claims)
        let ec = try key(Self.ecPEM)
        XCTAssertEqual(ec.algorithm, .es256)
        XCTAssertEqual(claims(JWSKeys(secret: nil, publicKey: ec).verify(Self.es256)), Self.claims)
        // Both configured: each token finds its key.
        let both = JWSKeys(secret: Self.secret, publicKey: ec)
        XCTAssertNotNil(claims(both.verify(Self.hs256)))
        XCTAssertNotNil(claims(both.verify(Self.es256)))
    }

    func testAlgorithmsNotConfiguredAreRefused() throws {
        let rsaOnly = JWSKeys(secret: nil, publicKey: try key(Self.rsaPEM))
        XCTAssertEqual(rsaOnly.verify(Self.hsWithPublicPEM), .failure(.unsupportedAlgorithm("HS256")), "HS/RS confusion")
        XCTAssertEqual(rsaOnly.verify(Self.hs256), .failure(.unsupportedAlgorithm("HS256")))
        XCTAssertEqual(rsaOnly.verify(Self.es256), .failure(.unsupportedAlgorithm("ES256")))
        XCTAssertEqual(rsaOnly.verify(Self.none), .failure(.unsupportedAlgorithm("none")))
        let hsOnly = JWSKeys(secret: Self.secret, publicKey: nil)
        XCTAssertEqual(hsOnly.verify(Self.rs256), .failure(.unsupportedAlgorithm("RS256")))
        XCTAssertEqual(hsOnly.verify(Self.none), .failure(.unsupportedAlgorithm("none")))
    }

    func testTamperedTokensFail() throws {
        let parts = Self.hs256.split(separator: ".").map(String.init)
        let otherClaims = Base64URL.encode(Array(#"{"sub":"vector","exp":4102444800,"sessions":["*"],"scope":["read"]}"#.utf8))
        let hsOnly = JWSKeys(secret: Self.secret, publicKey: nil)
        XCTAssertEqual(hsOnly.verify(parts[0] + "." + otherClaims + "." + parts[2]), .failure(.badSignature))
        XCTAssertEqual(JWSKeys(secret: Array("another-secret-another-secret-32b".utf8), publicKey: nil).verify(Self.hs256), .failure(.badSignature))
        let es = Self.es256.split(separator: ".").map(String.init)
        let ec = JWSKeys(secret: nil, publicKey: try key(Self.ecPEM))
        XCTAssertEqual(ec.verify(es[0] + "." + otherClaims + "." + es[2]), .failure(.badSignature))
        // A DER signature (what OpenSSL makes) is not a JWS ES256 signature: raw r||s only.
        var raw = Base64URL.decode(Array(es[2].utf8))!
        XCTAssertEqual(raw.count, 64)
        raw.removeLast()
        XCTAssertEqual(ec.verify(es[0] + "." + es[1] + "." + Base64URL.encode(raw)), .failure(.badSignature))
        let rs = Self.rs256.split(separator: ".").map(String.init)
        let rsa = JWSKeys(secret: nil, publicKey: try key(Self.rsaPEM))
        XCTAssertEqual(rsa.verify(rs[0] + "." + otherClaims + "." + rs[2]), .failure(.badSignature))
    }

    func testMalformedTokens() {
        let keys = JWSKeys(secret: Self.secret, publicKey: nil)
        for token in ["", "abc", "a.b", "a.b.c.d", "!!.e30.", "e30.e30.", Self.hs256 + "="] {
            guard case .failure(.malformed) = keys.verify(token) else { return XCTFail("accepted or misread \(token)") }
        }
    }

    static let secp256k1PEM = """
-----BEGIN PUBLIC KEY-----
MFYwEAYHKoZIzj0CAQYFK4EEAAoDQgAEGWokKfyn8p3jNbebtEQux9iX/HtpRHoR
hLg3eJ66VY92DeOecmOfcpcXHTnqkomVXtfkqnx1OYGbhXZycBCvgw==
-----END PUBLIC KEY-----
"""

    func testKeysThatAreNotRS256OrES256AreRefused() {
        XCTAssertThrowsError(try key(Self.ec384PEM), "P-384 is ES384, not ES256")
        XCTAssertThrowsError(try key(Self.secp256k1PEM), "a 256-bit curve that is not P-256 (ES256K)")
        XCTAssertThrowsError(try key("not a key"))
    }

    func testSignHS256RoundTrip() {
        let claims = Array(#"{"sub":"me","exp":1}"#.utf8)
        let token = JWSKeys.signHS256(claimsJSON: claims, secret: Self.secret)
        XCTAssertFalse(token.contains("="))
        XCTAssertEqual(try JWSKeys(secret: Self.secret, publicKey: nil).verify(token).get(), claims)
    }

    func testBase64URL() {
        XCTAssertEqual(Base64URL.encode([0xfb, 0xff]), "-_8")
        XCTAssertEqual(Base64URL.decode(Array("-_8".utf8)), [0xfb, 0xff])
        XCTAssertNil(Base64URL.decode(Array("+/8".utf8)), "standard alphabet refused")
        XCTAssertNil(Base64URL.decode(Array("-_8=".utf8)), "padding refused")
        XCTAssertNil(Base64URL.decode(Array("A".utf8)))
    }
}
