/// A single-pass validating JSON scanner for request bodies and WebSocket messages: it checks
/// the whole RFC 8259 grammar and, in the same pass, reports the top-level value, the elements
/// of a top-level array and the members a caller asked for (see `JSONDocument`). No tree is
/// built; the only allocations are the element and member tables.
///
/// Where the RFC leaves a choice, the stricter one (and Foundation's on Linux, except where
/// noted) is taken:
/// - §2 whitespace is exactly space, tab, LF and CR; nothing may follow the value. No byte order
///   mark: a caller that allows one (§8.1) skips it with `from:`.
/// - §6 numbers follow the grammar (no leading zeros, `+`, bare `.`, NaN, Infinity); a number
///   whose binary64 value would be infinite is refused (§6 lets a parser limit the range).
///   Underflow to zero is accepted.
/// - §7 strings: unescaped bytes below 0x20 are refused; escapes are the eight of §7 and `\u`.
/// - §8.1 text is UTF-8 (RFC 3629: no overlongs, no encoded surrogates, at most U+10FFFF).
/// - §8.2 a `\u` escape of a UTF-16 surrogate must be half of a high-low pair; a lone one is
///   refused (the grammar allows it, but it cannot be Unicode text; RFC 7493 §2.1 forbids it).
/// - §9 nesting is limited to `maxDepth` arrays and objects.
/// - §5, §4 no trailing comma (Foundation on Linux accepts `[1,]` and `{"a":1,}`; we do not).
public enum JSONScanner {
    /// The deepest nesting accepted: 512 arrays or objects inside each other, as Foundation.
    public static let maxDepth = 512

    /// Scans `bytes[from...]` as one JSON text. Elements of a top-level array past
    /// `maxElements` are validated and counted but not kept (nor their members): the tables
    /// grow with what the caller can use, not with what a client sends.
    public static func scan(_ bytes: [UInt8], from start: Int = 0, keys: JSONKeyTable,
                            maxElements: Int) -> Result<JSONDocument, JSONScanError> {
        bytes.withUnsafeBufferPointer { text in
            keys.flat.withUnsafeBufferPointer { flat in
                keys.bounds.withUnsafeBufferPointer { bounds in
                    var walker = JSONWalker(text: text, start: start, keyBytes: flat, keyBounds: bounds, maxElements: maxElements)
                    guard let root = walker.document() else {
                        return .failure(JSONScanError(reason: walker.failure, offset: walker.failureOffset))
                    }
                    return .success(JSONDocument(bytes: bytes, keys: keys, root: root, elements: walker.elements,
                                                 elementCount: walker.elementCount, members: walker.members))
                }
            }
        }
    }
}
