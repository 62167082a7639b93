import Foundation
import SBCore
import SBHTTP
import SBWebSocket

/// A request body parsed as JSON with Foundation, or the 4xx that explains why not.
enum JSONBody {
    enum Failure: Error {
        case unsupportedMediaType
        case invalid(String)
    }

    static let notUTF8 = "request body must be JSON encoded as UTF-8 (RFC 8259 §8.1); UTF-16, UTF-32 and other encodings are refused"
    static let notJSON = "request body is not valid JSON"

    /// Accepts `application/json` (any parameters) and `*+json`; a missing Content-Type is
    /// read as JSON, since many agents omit it.
    static func checkMediaType(_ request: HTTPRequest) -> Failure? {
        guard let type = request.head.headers.firstValue(HeaderName.contentType) else { return nil }
        return type.withUnsafeBufferPointer(isJSONMediaType) ? nil : .unsupportedMediaType
    }

    /// The media type (before any `;`, without surrounding spaces and tabs, ASCII case
    /// folded) is `application/json` or ends in `+json`. Compared as bytes: this runs on
    /// every POST.
    static func isJSONMediaType(_ value: String) -> Bool {
        var value = value
        return value.withUTF8(isJSONMediaType)
    }

    static func isJSONMediaType(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        var end = bytes.firstIndex(of: UInt8(ascii: ";")) ?? bytes.count
        var start = 0
        while start < end, bytes[start] == 0x20 || bytes[start] == 0x09 { start += 1 }
        while end > start, bytes[end - 1] == 0x20 || bytes[end - 1] == 0x09 { end -= 1 }
        func lower(_ c: UInt8) -> UInt8 { c >= 0x41 && c <= 0x5A ? c | 0x20 : c }
        // StaticString suffixes: constant data, where arrays were lazy globals checked per call.
        func endsWith(_ suffix: StaticString) -> Bool {
            let count = suffix.utf8CodeUnitCount
            guard end - start >= count else { return false }
            let from = end - count
            for k in 0..<count where lower(bytes[from + k]) != suffix.utf8Start[k] { return false }
            return true
        }
        return endsWith("+json") || (end - start == 16 && endsWith("application/json"))
    }

    /// The hot path (events): one pass of `JSONScanner` validates the body and finds the
    /// members `keys` names, with no object tree. A leading byte order mark is skipped (the
    /// ranges index `request.body` itself). Same failures and messages as `parse`.
    static func scan(_ request: HTTPRequest, keys: JSONKeyTable, maxElements: Int) -> Result<JSONDocument, Failure> {
        if let failure = checkMediaType(request) { return .failure(failure) }
        let bomLength = hasByteOrderMark(request.body) ? 3 : 0
        guard request.body.count > bomLength else { return .failure(.invalid("request body is empty; expected JSON")) }
        switch JSONScanner.scan(request.body, from: bomLength, keys: keys, maxElements: maxElements) {
        case .success(let document): return .success(document)
        case .failure:
            // A scanned document is UTF-8 without NULs; on failure, say which kind of wrong
            // the body is the way `parse` does: encoding first (the whole body), then syntax.
            return .failure(.invalid(isUTF8(request.body, from: bomLength) ? notJSON : notUTF8))
        }
    }

    /// UTF-8 without NUL bytes: JSONSerialization would guess UTF-16 or UTF-32 from NUL bytes
    /// and accept it; what we store and send must be UTF-8 (a NUL is never valid JSON text in
    /// UTF-8: outside strings it is not whitespace, inside it must be escaped).
    static func isUTF8(_ body: [UInt8], from start: Int) -> Bool {
        body.withUnsafeBytes { bytes in
            let text = UnsafeRawBufferPointer(rebasing: bytes[start...])
            var validator = UTF8Validator()
            return !containsNUL(text) && validator.validate(text) && validator.isComplete
        }
    }

    /// The cold routes (sessions, queues, tokens) keep a Foundation tree, since they pass
    /// values on; the scanner validates first, so every route accepts exactly the same JSON
    /// (Foundation alone would take trailing commas, for one).
    static func parse(_ request: HTTPRequest) -> Result<Any, Failure> {
        if case .failure(let failure) = scan(request, keys: .none, maxElements: 0) { return .failure(failure) }
        let bomLength = hasByteOrderMark(request.body) ? 3 : 0
        do {
            let data = bomLength == 0 ? Data(request.body) : Data(request.body[bomLength...])
            let value = try JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed])
            return .success(value)
        } catch {
            return .failure(.invalid(notJSON))
        }
    }

    /// A leading UTF-8 byte order mark, which RFC 8259 §8.1 lets a parser ignore: it is
    /// dropped, so what is stored never starts with one.
    static func hasByteOrderMark(_ body: [UInt8]) -> Bool {
        body.count >= 3 && body[0] == 0xEF && body[1] == 0xBB && body[2] == 0xBF
    }

    /// Eight bytes at a time: a word has a zero byte iff (w - 0x01…01) & ~w & 0x80…80 ≠ 0.
    static func containsNUL(_ bytes: UnsafeRawBufferPointer) -> Bool {
        var i = 0
        while i + 8 <= bytes.count {
            let word = bytes.loadUnaligned(fromByteOffset: i, as: UInt64.self)
            if (word &- 0x0101_0101_0101_0101) & ~word & 0x8080_8080_8080_8080 != 0 { return true }
            i += 8
        }
        while i < bytes.count {
            if bytes[i] == 0 { return true }
            i += 1
        }
        return false
    }

    static func object(_ request: HTTPRequest) -> Result<[String: Any], Failure> {
        switch parse(request) {
        case .failure(let failure): return .failure(failure)
        case .success(let value):
            guard let object = value as? [String: Any] else { return .failure(.invalid("request body must be a JSON object")) }
            return .success(object)
        }
    }

    static func encode(_ value: Any) -> [UInt8] {
        guard let data = try? JSONSerialization.data(withJSONObject: value, options: [.withoutEscapingSlashes]) else {
            return Array("{}".utf8)
        }
        return [UInt8](data)
    }
}

/// Field checks shared by the routes; each failure names the field and says why.
enum Field {
    static let sessionIdRule = "must be 1-200 characters of [A-Za-z0-9._:-]"

    /// `true`/`false` from JSONSerialization. Not `value is Bool`: on Linux the numbers 0 and 1
    /// bridge to Bool too, so that test refused `lastEventId: 0`.
    static func isJSONBoolean(_ value: Any) -> Bool {
        guard let number = value as? NSNumber else { return false }
        return String(cString: number.objCType) == "c"
    }

    static func isValidSessionId(_ value: String) -> Bool {
        let bytes = value.utf8
        guard !bytes.isEmpty, bytes.count <= 200 else { return false }
        return bytes.allSatisfy { c in
            (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A)
                || c == UInt8(ascii: ".") || c == UInt8(ascii: "_") || c == UInt8(ascii: ":") || c == UInt8(ascii: "-")
        }
    }

    /// An optional string field: absent/null is nil; any other non-string type is an error.
    static func optionalString(_ object: [String: Any], _ name: String, maxLength: Int = 10_000) -> Result<String?, HubError> {
        guard let value = object[name], !(value is NSNull) else { return .success(nil) }
        guard let string = value as? String else { return .failure(.badRequest("\(name) must be a string")) }
        guard string.utf8.count <= maxLength else { return .failure(.badRequest("\(name) must be at most \(maxLength) bytes")) }
        return .success(string)
    }

    static func requiredString(_ object: [String: Any], _ name: String, maxLength: Int = 10_000) -> Result<String, HubError> {
        switch optionalString(object, name, maxLength: maxLength) {
        case .failure(let error): return .failure(error)
        case .success(nil): return .failure(.badRequest("\(name) is required"))
        case .success(let value?):
            guard !value.isEmpty else { return .failure(.badRequest("\(name) must not be empty")) }
            return .success(value)
        }
    }
}
