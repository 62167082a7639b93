import XCTest
import SBCore

/// The byte-level scan behind refusing `{"sessionId":"a",…,"sessionId":"b"}` (issue 14).
final class TopLevelKeysTests: XCTestCase {
    let fields: Set<String> = ["sessionId", "eventId", "type", "timestamp", "seq"]

    func repeated(_ text: String) -> String? {
        TopLevelKeys.firstRepeated(in: Array(text.utf8)[...], among: fields)
    }

    func testRows() {
        let rows: [(String, String?)] = [
            (#"{"sessionId":"a","type":"t"}"#, nil),
            (#"{"sessionId":"a","type":"t","sessionId":"b"}"#, "sessionId"),
            (#" { "type" : "t" , "x" : 1 , "type" : "u" } "#, "type"),
            (#"{"session\u0049d":"a","sessionId":"b"}"#, "sessionId"),     // escaped name is the same name
            (#"{"sessionId":"a","data":{"sessionId":"b","sessionId":"c"}}"#, nil),  // nested: not top level
            (#"{"sessionId":"a","list":[{"sessionId":"b"}],"note":"\"sessionId\":"}"#, nil),
            (#"{"other":1,"other":2}"#, nil),                                   // a field the server does not read
            (#"{"seq":1,"eventId":"e","seq":2}"#, "seq"),
            (#"{"a":"}\"{","eventId":"x","eventId":"y"}"#, "eventId"),
            (#"["sessionId","sessionId"]"#, nil),                               // not an object
            (#"{"timestamp":"t","sessionId":"s","timestamp":"u","sessionId":"v"}"#, "timestamp"),
        ]
        for (json, expected) in rows { XCTAssertEqual(repeated(json), expected, json) }
    }

    func testKeysInOrderAndSlices() {
        let bytes = Array(#"[{"a":1,"b":{"c":2},"a":[3]},{"d":4}]"#.utf8)
        XCTAssertEqual(TopLevelKeys.keys(in: bytes[1..<28]), ["a", "b", "a"])
        XCTAssertEqual(TopLevelKeys.keys(in: bytes[29..<36]), ["d"])
    }
}
