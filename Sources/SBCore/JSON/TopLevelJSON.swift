import Foundation

/// Reads one top-level string member of a JSON object without building the whole object.
///
/// Stored events and chains are JSON the hub already validated, so a scanner that only tracks
/// strings and nesting is enough, and it is far cheaper than `JSONSerialization` when a
/// `?since=` query has to look at the `timestamp` of thousands of events. A value containing
/// escapes, or anything the scanner does not expect, falls back to Foundation.
public enum TopLevelJSON {
    public static func string(_ name: String, in json: [UInt8]) -> String? {
        let key = Array(name.utf8)
        var i = 0
        skipSpace(json, &i)
        guard i < json.count, json[i] == UInt8(ascii: "{") else { return foundation(name, json) }
        i += 1
        while true {
            skipSpace(json, &i)
            guard i < json.count else { return foundation(name, json) }
            if json[i] == UInt8(ascii: "}") { return nil }
            guard json[i] == UInt8(ascii: "\""), let keyRange = stringBody(json, &i) else { return foundation(name, json) }
            skipSpace(json, &i)
            guard i < json.count, json[i] == UInt8(ascii: ":") else { return foundation(name, json) }
            i += 1
            skipSpace(json, &i)
            guard i < json.count else { return foundation(name, json) }
            if json[keyRange].elementsEqual(key) {
                guard json[i] == UInt8(ascii: "\"") else { return nil }  // present but not a string
                guard let valueRange = stringBody(json, &i), !json[valueRange].contains(UInt8(ascii: "\\")) else {
                    return foundation(name, json)
                }
                return String(decoding: json[valueRange], as: UTF8.self)
            }
            guard skipValue(json, &i) else { return foundation(name, json) }
            skipSpace(json, &i)
            guard i < json.count else { return foundation(name, json) }
            if json[i] == UInt8(ascii: ",") { i += 1; continue }
            if json[i] == UInt8(ascii: "}") { return nil }
            return foundation(name, json)
        }
    }

    private static func skipSpace(_ json: [UInt8], _ i: inout Int) {
        while i < json.count, json[i] == 0x20 || json[i] == 0x09 || json[i] == 0x0A || json[i] == 0x0D { i += 1 }
    }

    /// At an opening quote: returns the range between the quotes and moves past the closing one.
    private static func stringBody(_ json: [UInt8], _ i: inout Int) -> Range<Int>? {
        let start = i + 1
        var j = start
        while j < json.count {
            switch json[j] {
            case UInt8(ascii: "\\"): j += 2
            case UInt8(ascii: "\""):
                i = j + 1
                return start..<j
            default: j += 1
            }
        }
        return nil
    }

    /// Skips one value of any kind; false when the bytes end first.
    private static func skipValue(_ json: [UInt8], _ i: inout Int) -> Bool {
        var depth = 0
        while i < json.count {
            switch json[i] {
            case UInt8(ascii: "\""):
                guard stringBody(json, &i) != nil else { return false }
                if depth == 0 { return true }
                continue
            case UInt8(ascii: "{"), UInt8(ascii: "["):
                depth += 1
            case UInt8(ascii: "}"), UInt8(ascii: "]"):
                if depth == 0 { return true }  // end of the enclosing object: a scalar just ended
                depth -= 1
                if depth == 0 { i += 1; return true }
            case UInt8(ascii: ","):
                if depth == 0 { return true }
            default:
                break
            }
            i += 1
        }
        return depth == 0
    }

    private static func foundation(_ name: String, _ json: [UInt8]) -> String? {
        let object = try? JSONSerialization.jsonObject(with: Data(json)) as? [String: Any]
        return object?[name] as? String
    }
}
