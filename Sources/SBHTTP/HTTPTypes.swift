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

    /// From the request line's bytes: the common methods without building a string.
    init(_ bytes: ArraySlice<UInt8>) {
        for (known, method) in Self.knownBytes where bytes.elementsEqual(known) {
            self = method
            return
        }
        self = .other(String(decoding: bytes, as: UTF8.self))
    }

    private static let knownBytes: [([UInt8], HTTPMethod)] = [
        (Array("GET".utf8), .get), (Array("POST".utf8), .post), (Array("HEAD".utf8), .head), (Array("PUT".utf8), .put),
        (Array("DELETE".utf8), .delete), (Array("OPTIONS".utf8), .options), (Array("PATCH".utf8), .patch),
    ]

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

/// Header fields in arrival order; names lowercased once, at parse time.
public struct HTTPHeaders: Sendable, Sequence {
    public private(set) var fields: [(name: String, value: String)]

    public init(_ fields: [(String, String)] = []) {
        self.fields = fields.map { (name: $0.0.lowercased(), value: $0.1) }
    }

    init(capacity: Int) {
        fields = []
        fields.reserveCapacity(capacity)
    }

    mutating func append(name: String, value: String) {
        fields.append((name, value))
    }

    /// The first value of a header; `name` must be lowercase.
    public subscript(_ name: String) -> String? {
        fields.first { $0.name == name }?.value
    }

    public func values(_ name: String) -> [String] {
        fields.filter { $0.name == name }.map(\.value)
    }

    public var count: Int { fields.count }

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
        for field in headers.fields where field.name == "connection" {
            HeaderList.forEachElement(field.value) { token in
                if HeaderName.equalsIgnoringASCIICase(token, HeaderList.closeToken) { close = true }
                else if HeaderName.equalsIgnoringASCIICase(token, HeaderList.keepAliveToken) { keep = true }
                else if HeaderName.equalsIgnoringASCIICase(token, HeaderList.upgradeToken) { upgrade = true }
            }
        }
        keepAlive = !close && (versionMinor >= 1 || keep)
        expectsContinue = headers["expect"].map { $0.lowercased() == "100-continue" } ?? false
        isWebSocketUpgrade = upgrade && headers.fields.contains { $0.name == "upgrade" && HeaderList.contains($0.value, token: HeaderList.websocketToken) }
    }
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
        value.withUTF8 { bytes in
            var start = 0
            for end in 0...bytes.count where end == bytes.count || bytes[end] == UInt8(ascii: ",") {
                var lower = start, upper = end
                while lower < upper, bytes[lower] == 0x20 || bytes[lower] == 0x09 { lower += 1 }
                while upper > lower, bytes[upper - 1] == 0x20 || bytes[upper - 1] == 0x09 { upper -= 1 }
                body(UnsafeBufferPointer(rebasing: bytes[lower..<upper]))
                start = end + 1
            }
        }
    }

    /// Whether the list holds `token` (given in lowercase), ignoring case.
    public static func contains(_ value: String, token: [UInt8]) -> Bool {
        var found = false
        forEachElement(value) { element in
            if !found && HeaderName.equalsIgnoringASCIICase(element, token) { found = true }
        }
        return found
    }
}
