import XCTest
@testable import SBHTTP

/// The byte classes against the RFC's own lists.
final class HTTPSyntaxTests: XCTestCase {
    func testTokenCharactersAreExactlyTheRFCList() {
        // RFC 9110 §5.6.2: tchar = "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" / "-" / "." /
        // "^" / "_" / "`" / "|" / "~" / DIGIT / ALPHA
        let tchar = Set("!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz".utf8)
        for byte in UInt8.min...UInt8.max {
            XCTAssertEqual(HTTPSyntax.isTokenChar(byte), tchar.contains(byte), "byte \(byte)")
        }
        XCTAssertEqual(tchar.count, 77)
    }

    func testFieldValueBytesAreVisibleCharactersSpaceAndTab() {
        for byte in UInt8.min...UInt8.max {
            let allowed = byte == 0x09 || byte == 0x20 || (byte >= 0x21 && byte != 0x7F)
            XCTAssertEqual(HTTPSyntax.isFieldValueByte(byte), allowed, "byte \(byte)")
        }
    }
}
