import Foundation
import SBCore

/// One text message from a dashboard, scanned once (`JSONScanner`): validated, and the fields
/// the hub reads found by name, with no Foundation tree.
struct ClientMessage {
    enum Key: Int {
        case type, sessionId, lastEventId, epoch, token, payload, presence
        static let table = JSONKeyTable(["type", "sessionId", "lastEventId", "epoch", "token", "payload", "presence"])
    }

    enum Failure: Error, Equatable {
        /// Not JSON, or JSON but not an object.
        case notAnObject
        /// One of the names in `Key` given twice: which value would count is anyone's guess
        /// (RFC 8259 §4), so the message is refused, as a repeated event field is.
        case repeated(String)
    }

    let document: JSONDocument

    /// A leading byte order mark is skipped, as for request bodies (RFC 8259 §8.1).
    static func parse(_ text: [UInt8]) -> Result<ClientMessage, Failure> {
        let bom = text.count >= 3 && text[0] == 0xEF && text[1] == 0xBB && text[2] == 0xBF ? 3 : 0
        guard case .success(let document) = JSONScanner.scan(text, from: bom, keys: Key.table, maxElements: 0), document.root.kind == .object else {
            return .failure(.notAnObject)
        }
        if let repeated = document.root.repeatedKey { return .failure(.repeated(Key.table.names[repeated])) }
        return .success(ClientMessage(document: document))
    }

    func member(_ key: Key) -> JSONMember { document.member(key.rawValue, of: document.root) }

    /// The field's text when it is a string; nil when absent or of another kind.
    func string(_ key: Key) -> String? { document.string(member(key)) }

    /// A boolean field: nil when absent or null, `.some(nil)` when given as anything else.
    func bool(_ key: Key) -> Bool?? {
        switch member(key).kind {
        case nil, .null?: nil
        case .true?: true
        case .false?: false
        default: .some(nil)
        }
    }

    enum Integer: Equatable {
        case absent
        case value(Int64)
        case invalid
    }

    /// A non-negative integer given as any JSON number with an integral value (`5`, `5.0`,
    /// `5e0`), as before with Foundation (`Int64(exactly: doubleValue)`). Absent or null is
    /// `.absent`; strings, booleans, fractions, negatives and values ≥ 2^63 are `.invalid`.
    func nonNegativeInteger(_ key: Key) -> Integer {
        let field = member(key)
        guard field.isGiven else { return .absent }
        guard let value = document.number(field), let integer = Int64(exactly: value), integer >= 0 else { return .invalid }
        return .value(integer)
    }

    /// The field's value as a Foundation value, for a payload that is passed on re-serialized
    /// (`input`: a cold path). NSNull when absent.
    func foundationValue(_ key: Key) -> Any {
        let field = member(key)
        guard let kind = field.kind else { return NSNull() }
        let range = kind == .string ? field.range.lowerBound - 1..<field.range.upperBound + 1 : field.range
        return (try? JSONSerialization.jsonObject(with: Data(document.bytes[range]), options: [.fragmentsAllowed])) ?? NSNull()
    }
}
