import Foundation
import SBHTTP
import SBWebSocket

/// A request body parsed as JSON with Foundation, or the 4xx that explains why not.
enum JSONBody {
    enum Failure: Error {
        case unsupportedMediaType
        case invalid(String)
    }

    /// Accepts `application/json` (any parameters) and `*+json`; a missing Content-Type is
    /// read as JSON, since many agents omit it.
    static func parse(_ request: HTTPRequest) -> Result<Any, Failure> {
        if let type = request.head.headers["content-type"] {
            let media = type.split(separator: ";").first.map { $0.trimmingCharacters(in: .whitespaces).lowercased() } ?? ""
            guard media == "application/json" || media.hasSuffix("+json") else { return .failure(.unsupportedMediaType) }
        }
        let body = payload(request.body)
        guard !body.isEmpty else { return .failure(.invalid("request body is empty; expected JSON")) }
        // JSONSerialization would guess UTF-16 or UTF-32 from NUL bytes and accept it; what we
        // store and send must be UTF-8, so those are refused here (a NUL is never valid JSON
        // text in UTF-8: outside strings it is not whitespace, inside it must be escaped).
        var validator = UTF8Validator()
        guard !body.contains(0), body.withUnsafeBytes({ validator.validate($0) }), validator.isComplete else {
            return .failure(.invalid("request body must be JSON encoded as UTF-8 (RFC 8259 §8.1); UTF-16, UTF-32 and other encodings are refused"))
        }
        do {
            let value = try JSONSerialization.jsonObject(with: Data(body), options: [.fragmentsAllowed])
            return .success(value)
        } catch {
            return .failure(.invalid("request body is not valid JSON"))
        }
    }

    /// The body without a leading UTF-8 byte order mark, which RFC 8259 §8.1 lets a parser
    /// ignore: what is stored never starts with one.
    static func payload(_ body: [UInt8]) -> ArraySlice<UInt8> {
        body.starts(with: [0xEF, 0xBB, 0xBF]) ? body[3...] : body[...]
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
