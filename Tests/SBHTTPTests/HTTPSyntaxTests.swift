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

final class RequestTargetByteSetTests: XCTestCase {
    /// The literal sets agree with the RFC 3986 predicates they replace, byte by byte.
    func testTargetAndRegNameSetsMatchTheGrammar() {
        for value in 0...255 {
            let byte = UInt8(value)
            let unreservedOrSubDelim = RequestTarget.isUnreserved(byte) || RequestTarget.isSubDelim(byte)
            let pchar = unreservedOrSubDelim || byte == UInt8(ascii: ":") || byte == UInt8(ascii: "@")
            XCTAssertEqual(RequestTarget.isTargetByte(byte), pchar || byte == UInt8(ascii: "/") || byte == UInt8(ascii: "?"), "byte \(byte)")
            XCTAssertEqual(RequestTarget.isRegNameByte(byte), unreservedOrSubDelim, "byte \(byte)")
        }
        XCTAssertFalse(RequestTarget.isTargetByte(UInt8(ascii: "%")))
        XCTAssertFalse(RequestTarget.isTargetByte(UInt8(ascii: "#")))
        XCTAssertFalse(RequestTarget.isRegNameByte(UInt8(ascii: ":")))
    }
}

final class FieldValueCheckTests: XCTestCase {
    /// The word-at-a-time value check agrees with the byte rule wherever the byte sits: control
    /// bytes and DEL are refused, HTAB, SP and obs-text (0x80-0xFF) kept.
    func testEveryByteAtEveryPositionOfAValue() {
        for length in [1, 7, 8, 9, 16, 17, 23] {
            for position in 0..<length {
                for value in 0...255 {
                    let byte = UInt8(value)
                    var line = Array("X-Test: ".utf8) + [UInt8](repeating: UInt8(ascii: "a"), count: length)
                    line[8 + position] = byte
                    var offsets = HTTPSyntax.FieldOffsets()
                    let error = line.withUnsafeBufferPointer { HTTPSyntax.fieldOffsets($0, &offsets) }
                    XCTAssertEqual(error == nil, HTTPSyntax.isFieldValueByte(byte), "byte \(byte) at \(position) of \(length)")
                }
            }
        }
    }
}
