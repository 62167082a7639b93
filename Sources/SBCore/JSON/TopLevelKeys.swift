import Foundation

/// The member names of a top-level JSON object, read from its bytes: Foundation's dictionary
/// keeps only the last of repeated names, so repeats can only be seen here. Runs on bodies
/// Foundation has already validated, so it tracks only strings and nesting.
public enum TopLevelKeys {
    /// The first name of `names` that occurs twice at the top level of the object, comparing
    /// names after unescaping (`"session\u0049d"` is `sessionId`). nil when none repeats or the
    /// bytes are not an object.
    public static func firstRepeated(in json: ArraySlice<UInt8>, among names: Set<String>) -> String? {
        var seen: Set<String> = []
        var found: String?
        forEachKey(json) { key in
            guard names.contains(key) else { return true }
            if !seen.insert(key).inserted {
                found = key
                return false
            }
            return true
        }
        return found
    }

    /// Every top-level member name, in order (repeats included).
    public static func keys(in json: ArraySlice<UInt8>) -> [String] {
        var out: [String] = []
        forEachKey(json) { out.append($0); return true }
        return out
    }

    /// Calls `body` with each top-level name until it returns false.
    private static func forEachKey(_ json: ArraySlice<UInt8>, _ body: (String) -> Bool) {
        var i = json.startIndex
        var depth = 0
        var expectingKey = false
        while i < json.endIndex {
            let c = json[i]
            switch c {
            case UInt8(ascii: "\""):
                guard let end = stringEnd(json, from: i) else { return }
                if depth == 1 && expectingKey {
                    guard body(decodeName(json[i..<end])) else { return }
                    expectingKey = false
                }
                i = end
                continue
            case UInt8(ascii: "{"):
                depth += 1
                if depth == 1 { expectingKey = true }
            case UInt8(ascii: "["):
                guard depth > 0 else { return }
                depth += 1
            case UInt8(ascii: "}"), UInt8(ascii: "]"):
                depth -= 1
                if depth <= 0 { return }
            case UInt8(ascii: ","):
                if depth == 1 { expectingKey = true }
            default:
                break
            }
            i += 1
        }
    }

    /// Index just past the closing quote of the string opening at `from`.
    private static func stringEnd(_ json: ArraySlice<UInt8>, from: Int) -> Int? {
        var j = from + 1
        while j < json.endIndex {
            switch json[j] {
            case UInt8(ascii: "\\"): j += 2
            case UInt8(ascii: "\""): return j + 1
            default: j += 1
            }
        }
        return nil
    }

    /// A quoted name as text; escapes are rare, so only those go through Foundation.
    private static func decodeName(_ quoted: ArraySlice<UInt8>) -> String {
        let inner = quoted.dropFirst().dropLast()
        guard inner.contains(UInt8(ascii: "\\")) else { return String(decoding: inner, as: UTF8.self) }
        let decoded = try? JSONSerialization.jsonObject(with: Data(quoted), options: [.fragmentsAllowed]) as? String
        return decoded ?? String(decoding: inner, as: UTF8.self)
    }
}
