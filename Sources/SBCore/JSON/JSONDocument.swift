// What `JSONScanner` reports about one JSON text: the kind and bytes of its top-level value,
// the elements of a top-level array, and for the top-level object (or each object element of a
// top-level array) the members a caller asked for in a `JSONKeyTable`. Positions index `bytes`.

/// The six JSON value kinds (RFC 8259 §3), with `true` and `false` apart.
public enum JSONKind: UInt8, Sendable {
    case object, array, string, number, `true`, `false`, null
}

/// The top-level member names a caller reads, fixed once (a `static let`): the scanner reports
/// these by index, so no dictionary is built per object. At most 32 names, all different.
///
/// Names are compared as UTF-8 bytes after unescaping. Foundation compares dictionary keys by
/// canonical equivalence instead; for ASCII names without K, `;` or backquote (the only ASCII
/// characters with a singleton decomposition) the two are the same.
public struct JSONKeyTable: Sendable {
    public let names: [String]
    /// All names' bytes back to back; name k is `flat[bounds[k]..<bounds[k + 1]]`.
    let flat: [UInt8]
    let bounds: [Int]

    public init(_ names: [String]) {
        precondition(names.count <= 32 && Set(names).count == names.count, "at most 32 distinct names")
        self.names = names
        var flat: [UInt8] = []
        var bounds = [0]
        for name in names {
            flat.append(contentsOf: name.utf8)
            bounds.append(flat.count)
        }
        self.flat = flat
        self.bounds = bounds
    }

    public var count: Int { names.count }

    /// No names: validation only.
    public static let none = JSONKeyTable([])
}

/// One asked-for member of one object: absent, or the kind and bytes of its value (a string's
/// range is inside its quotes).
public struct JSONMember: Sendable, Equatable {
    /// nil when the object has no member of that name.
    public let kind: JSONKind?
    public let range: Range<Int>
    /// A string value with at least one escape; otherwise its bytes are its UTF-8 text.
    public let escaped: Bool

    public static let absent = JSONMember(kind: nil, range: 0..<0, escaped: false)

    public var isPresent: Bool { kind != nil }
    /// Present and not `null`: how the routes read optional fields.
    public var isGiven: Bool { kind != nil && kind != .null }
}

/// The top-level value, or one element of a top-level array.
public struct JSONElement: Sendable, Equatable {
    public let kind: JSONKind
    /// The value's bytes, without surrounding whitespace.
    public let range: Range<Int>
    /// Where this object's members start in the document's member table; -1 when not recorded.
    let membersStart: Int
    let repeated: Int8

    /// The index (in the key table) of the first asked-for name that this object gives twice;
    /// that member reports its first occurrence. nil when none repeats or not an object.
    public var repeatedKey: Int? { repeated < 0 ? nil : Int(repeated) }
}

public struct JSONDocument: Sendable {
    public let bytes: [UInt8]
    public let keys: JSONKeyTable
    public let root: JSONElement
    /// A top-level array's elements, the first `maxElements` of them (see `elementCount`).
    public let elements: [JSONElement]
    /// A top-level array's length, including elements past `maxElements` (validated, not kept).
    public let elementCount: Int
    let members: [JSONMember]

    /// Member `key` (an index into `keys`) of an object element; `.absent` for other kinds.
    public func member(_ key: Int, of element: JSONElement) -> JSONMember {
        guard element.membersStart >= 0 else { return .absent }
        return members[element.membersStart + key]
    }

    /// The decoded text of a string member; nil for any other kind.
    public func string(_ member: JSONMember) -> String? {
        guard member.kind == .string else { return nil }
        guard member.escaped else { return String(decoding: bytes[member.range], as: UTF8.self) }
        var out: [UInt8] = []
        out.reserveCapacity(member.range.count)
        bytes.withUnsafeBufferPointer { JSONStringDecoding.unescape($0, member.range, into: &out) }
        return String(decoding: out, as: UTF8.self)
    }

    /// `body` on the UTF-8 text of a string member without escapes, read in place (no
    /// `String` made); nil for an escaped string or any other kind (`string` decodes those).
    public func withUnescapedString<Result>(_ member: JSONMember, _ body: (UnsafeBufferPointer<UInt8>) -> Result) -> Result? {
        guard member.kind == .string, !member.escaped else { return nil }
        return bytes.withUnsafeBufferPointer { body(UnsafeBufferPointer(rebasing: $0[member.range])) }
    }

    /// A number member as the nearest binary64 value; nil for any other kind.
    public func number(_ member: JSONMember) -> Double? {
        guard member.kind == .number else { return nil }
        return Double(String(decoding: bytes[member.range], as: UTF8.self))
    }
}

/// Why a text is not JSON, and the offset of the first byte that shows it.
public struct JSONScanError: Error, Equatable, Sendable {
    public enum Reason: Sendable, Equatable {
        /// Anything the RFC 8259 grammar does not allow, including a premature end.
        case syntax
        /// Bytes in a string that are not UTF-8 (RFC 8259 §8.1, RFC 3629).
        case invalidUTF8
        /// A `\u` escape of a UTF-16 surrogate that is not half of a pair (RFC 8259 §8.2).
        case loneSurrogate
        /// More than `JSONScanner.maxDepth` nested arrays and objects (RFC 8259 §9).
        case tooDeep
        /// A number beyond the binary64 range (RFC 8259 §6).
        case numberOutOfRange
    }

    public let reason: Reason
    public let offset: Int
}
