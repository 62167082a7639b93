import XCTest
import SBCore

/// The RFC 8259 grammar, edge by edge, and what the scanner extracts in the same pass.
final class JSONScannerTests: XCTestCase {
    let keys = JSONKeyTable(["sessionId", "eventId", "type", "timestamp", "seq"])

    func scan(_ text: String) -> Result<JSONDocument, JSONScanError> {
        JSONScanner.scan(Array(text.utf8), keys: keys, maxElements: 100)
    }

    func reason(_ bytes: [UInt8]) -> JSONScanError.Reason? {
        if case .failure(let error) = JSONScanner.scan(bytes, keys: keys, maxElements: 100) { return error.reason }
        return nil
    }

    func testAcceptsTheGrammar() {
        let valid = [
            "{}", "[]", "0", "-0", "1", "-1", "0.5", "-0.0e-0", "1E+2", "1e-2", "123456789012345678901234567890",
            "1e308", "1.7976931348623157e308", "17976931348623157e292", "100e306", "4.9e-324", "1e-400", "0e99999",
            "true", "false", "null", "\"\"", "\"a\\\"b\\\\c\\/d\\b\\f\\n\\r\\t\"", "\"\\u0000\\u001f\\uFFFF\\uabcd\"",
            "\"\\uD83D\\uDE00\"", "\"\\udbff\\udfff\"", "\"é€😀\"", "\"\u{7F}\"",
            " \t\r\n{ \"a\" : [ 1 , { } , [ ] , \"x\" ] } \n", "[[[[[]]]]]", "{\"a\":{\"b\":{\"c\":null}}}",
            "{\"a\":1,\"a\":2}",
        ]
        for text in valid {
            guard case .success = scan(text) else { return XCTFail("refused valid \(text.debugDescription): \(scan(text))") }
        }
    }

    func testRefusesWhatTheGrammarDoesNot() {
        let rows: [(String, JSONScanError.Reason)] = [
            ("", .syntax), (" ", .syntax), ("01", .syntax), ("-01", .syntax), ("-", .syntax), ("1.", .syntax), (".5", .syntax),
            ("1e", .syntax), ("1e+", .syntax), ("+1", .syntax), ("0x10", .syntax), ("NaN", .syntax), ("Infinity", .syntax),
            ("-Infinity", .syntax), ("1.0e", .syntax), ("--1", .syntax), ("1 2", .syntax),
            ("1e309", .numberOutOfRange), ("-1.8e308", .numberOutOfRange), ("1000e306", .numberOutOfRange),
            ("0.1e310", .numberOutOfRange), ("17976931348623159e292", .numberOutOfRange), ("1e99999999999999999999", .numberOutOfRange),
            ("tru", .syntax), ("nul", .syntax), ("fals", .syntax), ("True", .syntax), ("nulll", .syntax), ("truex", .syntax),
            ("[1,]", .syntax), ("{\"a\":1,}", .syntax), ("[,1]", .syntax), ("[1 2]", .syntax), ("{\"a\" 1}", .syntax),
            ("{1:2}", .syntax), ("{'a':1}", .syntax), ("{\"a\":}", .syntax), ("{\"a\"}", .syntax), ("[", .syntax), ("{", .syntax),
            ("]", .syntax), ("[]]", .syntax), ("[]x", .syntax), ("{}{}", .syntax), ("\"", .syntax), ("\"abc", .syntax),
            ("\"\\x\"", .syntax), ("\"\\u00\"", .syntax), ("\"\\uZZZZ\"", .syntax), ("\"\\U0041\"", .syntax), ("\"a\tb\"", .syntax),
            ("\"a\nb\"", .syntax), ("\u{0C}[]", .syntax), ("[]\u{0B}", .syntax), ("\u{A0}[]", .syntax), ("[\u{2028}]", .syntax),
            ("\u{FEFF}[]", .syntax), ("'a'", .syntax),
            ("\"\\uD800\"", .loneSurrogate), ("\"\\uDC00\"", .loneSurrogate), ("\"\\uD800\\u0041\"", .loneSurrogate),
            ("\"\\uD800\\uD800\"", .loneSurrogate), ("\"\\uDBFF x\"", .loneSurrogate),
        ]
        for (text, expected) in rows { XCTAssertEqual(reason(Array(text.utf8)), expected, text.debugDescription) }
    }

    func testUTF8IsCheckedInStrings() {
        let rows: [[UInt8]] = [
            [0xFF], [0xC0, 0x80], [0xC1, 0xBF], [0xE0, 0x80, 0x80], [0xED, 0xA0, 0x80], [0xF0, 0x80, 0x80, 0x80],
            [0xF4, 0x90, 0x80, 0x80], [0xF5, 0x80, 0x80, 0x80], [0xC3], [0xE2, 0x82], [0x80], [0xC3, 0x41],
        ]
        for bad in rows { XCTAssertEqual(reason([0x22] + bad + [0x22]), .invalidUTF8, "\(bad)") }
        XCTAssertEqual(reason([0x5B, 0xC3, 0xA9, 0x5D]), .syntax, "non-ASCII outside a string")
        XCTAssertEqual(reason([0x22, 0x00, 0x22]), .syntax, "NUL in a string")
        XCTAssertNil(reason([0x22, 0xF4, 0x8F, 0xBF, 0xBF, 0xEF, 0xBF, 0xBF, 0xC2, 0x80, 0x22]), "U+10FFFF, U+FFFF, U+0080")
        // Long strings take the 8-bytes-at-a-time path: a bad byte at every offset is still found.
        for offset in 0..<24 {
            var text = [UInt8](repeating: 0x61, count: 24)
            text[offset] = 0x01
            XCTAssertEqual(reason([0x22] + text + [0x22]), .syntax, "control byte at \(offset)")
            text[offset] = 0xFF
            XCTAssertEqual(reason([0x22] + text + [0x22]), .invalidUTF8, "0xFF at \(offset)")
            text[offset] = 0x22
            XCTAssertEqual(reason([0x22] + text + [0x22]), .syntax, "quote at \(offset) ends the string early")
        }
    }

    func testDepthLimitIs512() {
        func nested(_ depth: Int) -> [UInt8] { Array((String(repeating: "[", count: depth) + String(repeating: "]", count: depth)).utf8) }
        XCTAssertNil(reason(nested(JSONScanner.maxDepth)))
        XCTAssertEqual(reason(nested(JSONScanner.maxDepth + 1)), .tooDeep)
        XCTAssertEqual(reason(Array(String(repeating: "[", count: 100_000).utf8)), .tooDeep)
        let objects = String(repeating: "{\"a\":", count: 511) + "{}" + String(repeating: "}", count: 511)
        XCTAssertNil(reason(Array(objects.utf8)))
        XCTAssertEqual(reason(Array(("[" + objects + "]").utf8)), .tooDeep)
    }

    /// Every proper prefix of a valid text is refused (nothing is accepted before its end).
    func testEveryTruncationIsRefused() {
        let texts = [
            #"{"sessionId":"s","type":"t","timestamp":"2026-11-24T12:00:00Z","data":[1,-2.5e+3,true,false,null,"\u00e9\ud83d\ude00"]}"#,
            #" [ {"a" : {"b":[]}} , "x\"y" , 0 ] "#,
        ]
        for text in texts {
            let bytes = Array(text.utf8)
            XCTAssertNotNil(try? JSONScanner.scan(bytes, keys: keys, maxElements: 100).get())
            let end = bytes.lastIndex { $0 != 0x20 }! + 1
            for cut in 0..<end { XCTAssertNotNil(reason(Array(bytes[..<cut])), "prefix of \(cut) bytes accepted") }
        }
    }

    func testExtractsTopLevelMembersOnly() throws {
        let text = #" {"sessionId":"s\u0031","data":{"type":"inner","sessionId":"x"},"type":"t","seq":null,"n":[{"eventId":"e"}]} "#
        let document = try scan(text).get()
        XCTAssertEqual(document.root.kind, .object)
        XCTAssertEqual(document.root.range, 1..<text.utf8.count - 1)
        XCTAssertNil(document.root.repeatedKey)
        XCTAssertEqual(document.string(document.member(0, of: document.root)), "s1")
        XCTAssertTrue(document.member(0, of: document.root).escaped)
        XCTAssertEqual(document.string(document.member(2, of: document.root)), "t")
        XCTAssertFalse(document.member(1, of: document.root).isPresent, "eventId only nested")
        XCTAssertFalse(document.member(3, of: document.root).isPresent)
        let seq = document.member(4, of: document.root)
        XCTAssertEqual(seq.kind, .null)
        XCTAssertTrue(seq.isPresent)
        XCTAssertFalse(seq.isGiven)
        XCTAssertNil(document.string(seq))
    }

    func testMemberKindsAndValues() throws {
        let text = #"{"sessionId":12.5e1,"eventId":true,"type":false,"timestamp":{"a":1},"seq":[1,2]}"#
        let document = try scan(text).get()
        let kinds = (0..<5).map { document.member($0, of: document.root).kind }
        XCTAssertEqual(kinds, [.number, .true, .false, .object, .array])
        XCTAssertEqual(document.number(document.member(0, of: document.root)), 125)
        XCTAssertNil(document.string(document.member(0, of: document.root)))
        let bytes = Array(text.utf8)
        XCTAssertEqual(String(decoding: bytes[document.member(3, of: document.root).range], as: UTF8.self), #"{"a":1}"#)
        XCTAssertEqual(String(decoding: bytes[document.member(4, of: document.root).range], as: UTF8.self), "[1,2]")
    }

    func testDecodesEscapes() throws {
        let text = #"{"type":"\"\\\/\b\f\n\r\t\u0041\u00e9\u20AC\ud83d\ude00\u0000"}"#
        let document = try scan(text).get()
        XCTAssertEqual(document.string(document.member(2, of: document.root)), "\"\\/\u{8}\u{C}\n\r\tAé€😀\u{0}")
    }

    /// The rows that guarded the repeated-field check before the scanner (issue 14).
    func testRepeatedNames() throws {
        let rows: [(String, String?)] = [
            (#"{"sessionId":"a","type":"t"}"#, nil),
            (#"{"sessionId":"a","type":"t","sessionId":"b"}"#, "sessionId"),
            (#" { "type" : "t" , "x" : 1 , "type" : "u" } "#, "type"),
            (#"{"session\u0049d":"a","sessionId":"b"}"#, "sessionId"),     // an escaped name is the same name
            (#"{"sessionId":"a","data":{"sessionId":"b","sessionId":"c"}}"#, nil),  // nested: not top level
            (#"{"sessionId":"a","list":[{"sessionId":"b"}],"note":"\"sessionId\":"}"#, nil),
            (#"{"other":1,"other":2}"#, nil),                                   // a name nobody asked for
            (#"{"seq":1,"eventId":"e","seq":2}"#, "seq"),
            (#"{"a":"}\"{","eventId":"x","eventId":"y"}"#, "eventId"),
            (#"["sessionId","sessionId"]"#, nil),                               // not an object
            (#"{"timestamp":"t","sessionId":"s","timestamp":"u","sessionId":"v"}"#, "timestamp"),
        ]
        for (text, expected) in rows {
            let document = try scan(text).get()
            XCTAssertEqual(document.root.repeatedKey.map { keys.names[$0] }, expected, text)
        }
        // The first occurrence is the one reported.
        let document = try scan(#"{"type":"first","type":"second"}"#).get()
        XCTAssertEqual(document.string(document.member(2, of: document.root)), "first")
    }

    func testArrayElementsKeepTheirBytes() throws {
        let text = " [ {\"x\":\"a\\\"b,c\",\"type\":\"t\"} , 3 , \"s\" , null,{\"type\":\"u\",\"type\":\"v\"},[{\"type\":1}] ] "
        let bytes = Array(text.utf8)
        let document = try JSONScanner.scan(bytes, keys: keys, maxElements: 100).get()
        XCTAssertEqual(document.root.kind, .array)
        XCTAssertEqual(document.elementCount, 6)
        XCTAssertEqual(document.elements.map { String(decoding: bytes[$0.range], as: UTF8.self) },
                       ["{\"x\":\"a\\\"b,c\",\"type\":\"t\"}", "3", "\"s\"", "null", "{\"type\":\"u\",\"type\":\"v\"}", "[{\"type\":1}]"])
        XCTAssertEqual(document.elements.map(\.kind), [.object, .number, .string, .null, .object, .array])
        XCTAssertEqual(document.string(document.member(2, of: document.elements[0])), "t")
        XCTAssertEqual(document.elements[4].repeatedKey, 2)
        XCTAssertFalse(document.member(2, of: document.elements[5]).isPresent, "members of nested arrays are not reported")
        XCTAssertFalse(document.member(2, of: document.root).isPresent)
        XCTAssertEqual(try JSONScanner.scan(Array("[]".utf8), keys: keys, maxElements: 100).get().elementCount, 0)
    }

    func testElementsPastTheLimitAreValidatedAndCounted() throws {
        let bytes = Array(("[" + Array(repeating: "{\"type\":\"t\"}", count: 10).joined(separator: ",") + "]").utf8)
        let document = try JSONScanner.scan(bytes, keys: keys, maxElements: 3).get()
        XCTAssertEqual(document.elementCount, 10)
        XCTAssertEqual(document.elements.count, 3)
        XCTAssertEqual(document.member(2, of: document.elements[2]).kind, .string)
        let none = try JSONScanner.scan(bytes, keys: keys, maxElements: 0).get()
        XCTAssertEqual(none.elementCount, 10)
        XCTAssertTrue(none.elements.isEmpty)
        XCTAssertFalse(none.member(2, of: none.root).isPresent)
        let bad = Array(("[" + Array(repeating: "{}", count: 10).joined(separator: ",") + ",{]").utf8)
        if case .success = JSONScanner.scan(bad, keys: keys, maxElements: 3) { XCTFail("a bad element past the limit is still refused") }
    }

    func testStartOffsetSkipsAPrefix() throws {
        let bytes: [UInt8] = [0xEF, 0xBB, 0xBF] + Array(#"{"type":"t"}"#.utf8)
        XCTAssertEqual(reason(bytes), .syntax, "a byte order mark is the caller's to skip")
        let document = try JSONScanner.scan(bytes, from: 3, keys: keys, maxElements: 0).get()
        XCTAssertEqual(document.root.range, 3..<bytes.count)
        XCTAssertEqual(document.string(document.member(2, of: document.root)), "t")
    }

    func testNoKeysValidatesOnly() throws {
        let document = try JSONScanner.scan(Array(#"{"type":"t"}"#.utf8), keys: .none, maxElements: 0).get()
        XCTAssertEqual(document.root.kind, .object)
        XCTAssertNil(document.root.repeatedKey)
    }
}
