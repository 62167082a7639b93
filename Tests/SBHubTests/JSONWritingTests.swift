import XCTest
import SBCore
import Foundation

/// The byte-level JSON writers used on the request path, against Swift's own formatting.
final class JSONWritingTests: XCTestCase {
    func testNumbersMatchSwiftsDescription() {
        let ints: [Int] = [0, 1, 9, 10, 99, 100, 12345, -1, -10, -987654321, Int.max, Int.min]
        for value in ints {
            var out: [UInt8] = []
            JSONNumber.append(value, to: &out)
            XCTAssertEqual(String(decoding: out, as: UTF8.self), String(value))
        }
        var out: [UInt8] = [UInt8(ascii: "[")]
        JSONNumber.append(UInt64.max, to: &out)
        XCTAssertEqual(String(decoding: out, as: UTF8.self), "[\(UInt64.max)", "appends after what is there")
        out = []
        JSONNumber.append(true, to: &out)
        JSONNumber.append(false, to: &out)
        XCTAssertEqual(String(decoding: out, as: UTF8.self), "truefalse")
    }

    func testObjectWriterWritesMembersInOrderNestedAndEscaped() throws {
        let text = "subscribed to \"a\"\n"
        let bytes = JSONObjectWriter.make { message in
            message.string("type", "subscription_confirmed")
            message.object("payload") { payload in
                payload.string("message", text)
                payload.integer("lastSeq", Int64.max)
                payload.integer("oldestSeq", -1)
                payload.bool("recovered", false)
                payload.object("empty") { _ in }
            }
            message.bool("last", true)
        }
        let json = String(decoding: bytes, as: UTF8.self)
        XCTAssertEqual(json, #"{"type":"subscription_confirmed","payload":{"message":"subscribed to \"a\"\n","lastSeq":9223372036854775807,"oldestSeq":-1,"recovered":false,"empty":{}},"last":true}"#)
        let object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any])
        let payload = try XCTUnwrap(object["payload"] as? [String: Any])
        XCTAssertEqual(payload["message"] as? String, text)
        XCTAssertEqual(JSONObjectWriter.make { _ in }, Array("{}".utf8))
    }

    func testStringsEscapeOnlyWhatJSONRequires() throws {
        for text in ["plain-id_1.2:3", "", "quote\"back\\slash", "line\nfeed\ttab\r", "\u{01}\u{1F}", "é ü 😀 /"] {
            var out: [UInt8] = []
            JSONString.append(text, to: &out)
            let decoded = try JSONSerialization.jsonObject(with: Data(out), options: [.fragmentsAllowed]) as? String
            XCTAssertEqual(decoded, text)
        }
    }
}
