#if canImport(Glibc)
import Glibc
#endif

/// Limits checked the moment the bytes reveal a violation, never after buffering past them.
public struct HTTPLimits: Sendable {
    public var maxHeadBytes: Int
    public var maxHeaderCount: Int
    public var maxBodyBytes: Int
    public var maxTargetBytes: Int

    public init(maxHeadBytes: Int = 16384, maxHeaderCount: Int = 100, maxBodyBytes: Int = 1 << 20, maxTargetBytes: Int = 8192) {
        self.maxHeadBytes = maxHeadBytes
        self.maxHeaderCount = maxHeaderCount
        self.maxBodyBytes = maxBodyBytes
        self.maxTargetBytes = maxTargetBytes
    }
}

public enum HTTPMethod: Equatable, Hashable, Sendable {
    case get, head, post, put, delete, options, patch
    case other(String)

    init(_ name: String) {
        switch name {
        case "GET": self = .get
        case "HEAD": self = .head
        case "POST": self = .post
        case "PUT": self = .put
        case "DELETE": self = .delete
        case "OPTIONS": self = .options
        case "PATCH": self = .patch
        default: self = .other(name)
        }
    }

    /// From the request line's bytes: the common methods without building a string (methods
    /// are case-sensitive, RFC 9110 §9.1).
    init(_ bytes: ArraySlice<UInt8>) {
        self = Self.known(bytes) ?? .other(String(decoding: bytes, as: UTF8.self))
    }

    private static func known(_ bytes: ArraySlice<UInt8>) -> HTTPMethod? {
        // Byte by byte: `elementsEqual` over two collection types cost ~100 instructions per request.
        func matches(_ name: StaticString) -> Bool {
            guard name.utf8CodeUnitCount == bytes.count else { return false }
            let stored = name.utf8Start
            var i = 0
            for byte in bytes {
                if stored[i] != byte { return false }
                i += 1
            }
            return true
        }
        switch bytes.first {
        case UInt8(ascii: "G"): return matches("GET") ? .get : nil
        case UInt8(ascii: "P"): return matches("POST") ? .post : matches("PUT") ? .put : matches("PATCH") ? .patch : nil
        case UInt8(ascii: "H"): return matches("HEAD") ? .head : nil
        case UInt8(ascii: "D"): return matches("DELETE") ? .delete : nil
        case UInt8(ascii: "O"): return matches("OPTIONS") ? .options : nil
        default: return nil
        }
    }

    public var name: String {
        switch self {
        case .get: "GET"
        case .head: "HEAD"
        case .post: "POST"
        case .put: "PUT"
        case .delete: "DELETE"
        case .options: "OPTIONS"
        case .patch: "PATCH"
        case .other(let name): name
        }
    }
}

/// Header fields in arrival order, kept as the bytes they arrived in: names lowercased, values
/// as sent. A request's fields cost two allocations (the bytes and the offsets) however many
/// there are, and none on a keep-alive connection's next request (`HTTPRequestParser.recycle`);
/// a value becomes a `String` only when someone asks for it, and the framing and connection
/// checks read the bytes themselves.
public struct HTTPHeaders: Sendable, Sequence {
    /// A parsed head's field section as received, in one copy, names lowercased in place
    /// (`HeadParser.fields`); fields added by `append` go name and value back to back.
    var bytes: [UInt8] = []
    var entries: [Entry] = []

    struct Entry: Sendable {
        var nameStart: UInt32
        var nameEnd: UInt32
        var valueStart: UInt32
        var valueEnd: UInt32
    }

    public init(_ fields: [(String, String)] = []) {
        entries.reserveCapacity(fields.count)
        for (name, value) in fields { append(name: ArraySlice(name.utf8), value: ArraySlice(value.utf8)) }
    }

    /// Room for `capacity` fields; the bytes are sized by the one copy of the field section.
    init(capacity: Int) {
        entries.reserveCapacity(capacity)
    }

    /// Storage worth keeping for the next request of a connection: a common head's, not a
    /// 16 KiB one's.
    var isSmall: Bool { bytes.capacity <= 2048 && entries.capacity <= 32 }

    /// `name` in any case: it is stored lowercased.
    mutating func append(name: UnsafeBufferPointer<UInt8>, value: UnsafeBufferPointer<UInt8>) {
        let nameStart = bytes.count
        bytes.append(contentsOf: name)
        let nameEnd = bytes.count
        bytes.withUnsafeMutableBufferPointer { stored in
            for i in nameStart..<nameEnd { stored[i] = HeaderName.lowercase(stored[i]) }
        }
        bytes.append(contentsOf: value)
        entries.append(Entry(nameStart: UInt32(nameStart), nameEnd: UInt32(nameEnd), valueStart: UInt32(nameEnd), valueEnd: UInt32(bytes.count)))
    }

    mutating func append(name: ArraySlice<UInt8>, value: ArraySlice<UInt8>) {
        name.withUnsafeBufferPointer { name in
            value.withUnsafeBufferPointer { value in append(name: name, value: value) }
        }
    }

    public var count: Int { entries.count }

    /// Calls `body` with the value bytes of every field called `name` (lowercase), in order.
    public func forEachValue(_ name: [UInt8], _ body: (ArraySlice<UInt8>) -> Void) {
        name.withUnsafeBufferPointer { forEachValue($0, body) }
    }

    private func forEachValue(_ name: UnsafeBufferPointer<UInt8>, _ body: (ArraySlice<UInt8>) -> Void) {
        for entry in entries where nameEquals(entry, name) {
            body(bytes[Int(entry.valueStart)..<Int(entry.valueEnd)])
        }
    }

    /// The value bytes of the first field called `name` (lowercase).
    public func firstValue(_ name: [UInt8]) -> ArraySlice<UInt8>? {
        name.withUnsafeBufferPointer { first($0) }
    }

    private func first(_ name: UnsafeBufferPointer<UInt8>) -> ArraySlice<UInt8>? {
        for entry in entries where nameEquals(entry, name) {
            return bytes[Int(entry.valueStart)..<Int(entry.valueEnd)]
        }
        return nil
    }

    private func nameEquals(_ entry: Entry, _ name: UnsafeBufferPointer<UInt8>) -> Bool {
        let length = Int(entry.nameEnd &- entry.nameStart)
        guard length == name.count else { return false }
        guard length > 0 else { return true }
        return bytes.withUnsafeBufferPointer { stored in
            memcmp(stored.baseAddress! + Int(entry.nameStart), name.baseAddress!, length) == 0
        }
    }

    /// The first value of a header; `name` must be lowercase.
    public subscript(_ name: String) -> String? {
        var name = name
        return name.withUTF8 { first($0) }.map { String(decoding: $0, as: UTF8.self) }
    }

    public func values(_ name: String) -> [String] {
        var name = name
        var found: [String] = []
        name.withUTF8 { name in forEachValue(name) { found.append(String(decoding: $0, as: UTF8.self)) } }
        return found
    }

    /// Every field as strings (for tests and diagnostics, not the request path).
    public var fields: [(name: String, value: String)] {
        entries.map { entry in
            (String(decoding: bytes[Int(entry.nameStart)..<Int(entry.nameEnd)], as: UTF8.self),
             String(decoding: bytes[Int(entry.valueStart)..<Int(entry.valueEnd)], as: UTF8.self))
        }
    }

    public func makeIterator() -> IndexingIterator<[(name: String, value: String)]> {
        fields.makeIterator()
    }
}

public struct HTTPRequestHead: Sendable {
    public var method: HTTPMethod
    public var target: String
    public var path: String
    public var query: [(String, String)]
    public var versionMinor: Int
    public var headers: HTTPHeaders

    public init(method: HTTPMethod, target: String, versionMinor: Int = 1, headers: HTTPHeaders = HTTPHeaders()) {
        self.method = method
        self.target = target
        self.versionMinor = versionMinor
        self.headers = headers
        let split = PercentDecoding.splitTarget(target)
        self.path = split?.path ?? target
        self.query = split?.query ?? []
        computeFlags()
    }

    /// For the parser, which has split and validated the target already.
    init(method: HTTPMethod, target: String, path: String, query: [(String, String)], versionMinor: Int, headers: HTTPHeaders) {
        self.method = method
        self.target = target
        self.path = path
        self.query = query
        self.versionMinor = versionMinor
        self.headers = headers
        computeFlags()
    }

    public func queryValue(_ name: String) -> String? {
        query.first { $0.0 == name }?.1
    }

    /// HTTP/1.1 keeps the connection unless `Connection: close`; 1.0 closes unless `keep-alive`.
    public private(set) var keepAlive = true
    public private(set) var expectsContinue = false
    public private(set) var isWebSocketUpgrade = false

    /// Computed once per request from the headers (they are read several times per request).
    mutating func computeFlags() {
        var close = false, keep = false, upgrade = false
        headers.forEachValue(HeaderName.connection) { value in
            HeaderList.forEachElement(value) { token in
                if HeaderName.equalsIgnoringASCIICase(token, HeaderList.closeToken) { close = true }
                else if HeaderName.equalsIgnoringASCIICase(token, HeaderList.keepAliveToken) { keep = true }
                else if HeaderName.equalsIgnoringASCIICase(token, HeaderList.upgradeToken) { upgrade = true }
            }
        }
        keepAlive = !close && (versionMinor >= 1 || keep)
        expectsContinue = headers.firstValue(HeaderName.expect).map { HeaderName.equalsIgnoringASCIICase($0, Self.continueToken) } ?? false
        var websocket = false
        if upgrade {
            headers.forEachValue(HeaderName.upgrade) { value in
                if HeaderList.contains(value, token: HeaderList.websocketToken) { websocket = true }
            }
        }
        isWebSocketUpgrade = websocket
    }

    private static let continueToken: [UInt8] = Array("100-continue".utf8)
}

public struct HTTPRequest: Sendable {
    public var head: HTTPRequestHead
    public var body: [UInt8]

    public init(head: HTTPRequestHead, body: [UInt8] = []) {
        self.head = head
        self.body = body
    }
}

/// A fatal parse error: the server answers `status` with `message` and closes.
public struct HTTPParseError: Error, Equatable, Sendable {
    public var status: Int
    public var message: String

    public init(status: Int, message: String) {
        self.status = status
        self.message = message
    }

    static func bad(_ message: String) -> HTTPParseError { HTTPParseError(status: 400, message: message) }
}

public enum HTTPParserEvent: Sendable {
    case head(HTTPRequestHead)
    case request(HTTPRequest)
    case error(HTTPParseError)
}

/// A header value that is a comma-separated list (RFC 9110 §5.6.1), read as bytes: elements
/// split at commas, optional whitespace trimmed, compared ignoring ASCII case, nothing allocated.
public enum HeaderList {
    /// The list tokens the server looks for, lowercase (Connection and Upgrade).
    public static let closeToken: [UInt8] = Array("close".utf8)
    public static let keepAliveToken: [UInt8] = Array("keep-alive".utf8)
    public static let upgradeToken: [UInt8] = Array("upgrade".utf8)
    public static let websocketToken: [UInt8] = Array("websocket".utf8)

    /// Calls `body` with every element (empty ones included), trimmed.
    public static func forEachElement(_ value: String, _ body: (UnsafeBufferPointer<UInt8>) -> Void) {
        var value = value
        value.withUTF8 { forEachElement($0, body) }
    }

    public static func forEachElement(_ value: ArraySlice<UInt8>, _ body: (UnsafeBufferPointer<UInt8>) -> Void) {
        value.withUnsafeBufferPointer { forEachElement($0, body) }
    }

    static func forEachElement(_ bytes: UnsafeBufferPointer<UInt8>, _ body: (UnsafeBufferPointer<UInt8>) -> Void) {
        var start = 0
        for end in 0...bytes.count where end == bytes.count || bytes[end] == UInt8(ascii: ",") {
            var lower = start, upper = end
            while lower < upper, HTTPSyntax.isWhitespace(bytes[lower]) { lower += 1 }
            while upper > lower, HTTPSyntax.isWhitespace(bytes[upper - 1]) { upper -= 1 }
            body(UnsafeBufferPointer(rebasing: bytes[lower..<upper]))
            start = end + 1
        }
    }

    /// Whether the list holds `token` (given in lowercase), ignoring case.
    public static func contains(_ value: String, token: [UInt8]) -> Bool {
        var value = value
        return value.withUTF8 { contains($0, token: token) }
    }

    public static func contains(_ value: ArraySlice<UInt8>, token: [UInt8]) -> Bool {
        value.withUnsafeBufferPointer { contains($0, token: token) }
    }

    static func contains(_ value: UnsafeBufferPointer<UInt8>, token: [UInt8]) -> Bool {
        var found = false
        forEachElement(value) { element in
            if !found && HeaderName.equalsIgnoringASCIICase(element, token) { found = true }
        }
        return found
    }
}
