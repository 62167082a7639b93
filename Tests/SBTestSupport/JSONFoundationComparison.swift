public import Foundation
public import SBCore

/// The scanner's verdict on one text against Foundation's JSONSerialization: the same
/// accept/reject, and when both accept, the same top-level shape and the same values for the
/// asked-for members; each reported element range is itself the element. A disagreement counts
/// only when `JSONDifferences` explains it.
public enum JSONFoundationComparison {
    public enum Outcome: Equatable {
        case agree
        case documented
        case disagree(String)
    }

    public static let keys = JSONKeyTable(JSONDocumentGenerator.names)

    public static func compare(_ bytes: [UInt8], maxElements: Int = 4) -> Outcome {
        let ours = JSONScanner.scan(bytes, keys: keys, maxElements: maxElements)
        let theirs = try? JSONSerialization.jsonObject(with: Data(bytes), options: [.fragmentsAllowed])
        switch (ours, theirs) {
        case (.failure, nil): return .agree
        case (.failure(let error), _?):
            return JSONDifferences.explains(bytes, error) ? .documented : .disagree("we reject (\(error)), Foundation accepts")
        case (.success, nil): return .disagree("we accept, Foundation rejects")
        case (.success(let document), let value?):
            if let why = differences(document, value) { return .disagree(why) }
            return .agree
        }
    }

    public static func kind(of value: Any) -> JSONKind {
        switch value {
        case is String: return .string
        case is NSNull: return .null
        case is [Any]: return .array
        case is [String: Any]: return .object
        default:
            let number = value as! NSNumber
            if String(cString: number.objCType) == "c" { return number.boolValue ? .true : .false }
            return .number
        }
    }

    static func differences(_ document: JSONDocument, _ value: Any) -> String? {
        guard document.root.kind == kind(of: value) else { return "root kind \(document.root.kind) vs \(kind(of: value))" }
        guard same(document.bytes[document.root.range], value) else { return "root range is not the root value" }
        if let array = value as? [Any] {
            guard document.elementCount == array.count else { return "element count \(document.elementCount) vs \(array.count)" }
            for (i, element) in document.elements.enumerated() {
                guard element.kind == kind(of: array[i]) else { return "element \(i) kind" }
                guard same(document.bytes[element.range], array[i]) else { return "element \(i) range" }
                if let object = array[i] as? [String: Any], let why = members(document, element, object) { return "element \(i): \(why)" }
            }
        } else if let object = value as? [String: Any] {
            return members(document, document.root, object)
        }
        return nil
    }

    static func members(_ document: JSONDocument, _ element: JSONElement, _ object: [String: Any]) -> String? {
        for (k, name) in keys.names.enumerated() {
            let member = document.member(k, of: element)
            guard let value = object[name] else {
                if member.isPresent { return "\(name) reported but absent" }
                continue
            }
            guard member.kind == kind(of: value) else {
                // Foundation keeps the last of repeated names, the scanner the first.
                if element.repeatedKey != nil { continue }
                return "\(name) kind \(String(describing: member.kind)) vs \(kind(of: value))"
            }
            guard element.repeatedKey == nil else { continue }
            if let text = value as? String, document.string(member) != text { return "\(name) string differs" }
            if member.kind == .number, !(value is NSDecimalNumber), document.number(member) != (value as! NSNumber).doubleValue {
                return "\(name) number \(String(describing: document.number(member))) vs \(value)"
            }
            if member.kind != .string, member.kind != .number, !same(document.bytes[member.range], value) { return "\(name) value differs" }
        }
        return nil
    }

    /// The bytes parse (with Foundation) to a value equal to `value`, compared four levels
    /// deep (each level of Foundation's containers bridges a copy: deeper is quadratic).
    static func same(_ bytes: ArraySlice<UInt8>, _ value: Any) -> Bool {
        guard let parsed = try? JSONSerialization.jsonObject(with: Data(bytes), options: [.fragmentsAllowed]) else { return false }
        return equal(parsed, value, levels: 4)
    }

    static func equal(_ a: Any, _ b: Any, levels: Int) -> Bool {
        switch (a, b) {
        case let (x as String, y as String): return x == y
        case (is NSNull, is NSNull): return true
        case let (x as [Any], y as [Any]):
            return x.count == y.count && (levels == 0 || zip(x, y).allSatisfy { equal($0, $1, levels: levels - 1) })
        case let (x as [String: Any], y as [String: Any]):
            return x.count == y.count
                && (levels == 0 || x.allSatisfy { key, value in y[key].map { equal(value, $0, levels: levels - 1) } ?? false })
        case let (x as NSNumber, y as NSNumber): return x.isEqual(y)
        default: return false
        }
    }
}
