public struct HTTPResponse: Sendable {
    public var status: Int
    public var headers: [(String, String)]
    public var body: [UInt8]
    /// Header fields already encoded (`Name: value\r\n` each), written before `headers`: the
    /// fixed fields every answer of a kind carries, copied in one append instead of four per
    /// field (`HeaderLines`).
    public var headerLines: HeaderLines

    public init(status: Int, headers: [(String, String)] = [], body: [UInt8] = [], headerLines: HeaderLines = .none) {
        self.status = status
        self.headers = headers
        self.body = body
        self.headerLines = headerLines
    }
}

/// Prebuilt header fields: made once (a static), shared by every response that carries them.
public struct HeaderLines: Sendable {
    public let bytes: [UInt8]

    public init(_ fields: [(String, String)]) {
        bytes = fields.flatMap { Array("\($0.0): \($0.1)\r\n".utf8) }
    }

    public static let none = HeaderLines([])
}

/// Writes a response into a byte buffer in one pass (status line, headers, blank line, body).
public enum HTTPResponseEncoder {
    /// `extraHeaderLines`: complete `Name: value\r\n` lines the connection adds to every
    /// response (e.g. Strict-Transport-Security over TLS).
    public static func encode(_ response: HTTPResponse, keepAlive: Bool, headRequest: Bool = false,
                              extraHeaderLines: [UInt8] = [], into out: inout [UInt8]) {
        out.reserveCapacity(out.count + 128 + response.body.count)
        appendStatusAndHeaders(response, to: &out)
        if !extraHeaderLines.isEmpty { out.append(contentsOf: extraHeaderLines) }
        let bodyless = response.status < 200 || response.status == 204 || response.status == 304
        if !bodyless {
            append("Content-Length: ", to: &out)
            appendDecimal(response.body.count, to: &out)
            append("\r\n", to: &out)
        }
        if !keepAlive {
            append("Connection: close\r\n", to: &out)
        }
        append("\r\n", to: &out)
        if !bodyless && !headRequest {
            out.append(contentsOf: response.body)
        }
    }

    /// Status line and the response's own header fields (the framing fields are the caller's).
    private static func appendStatusAndHeaders(_ response: HTTPResponse, to out: inout [UInt8]) {
        appendStatusLine(response.status, to: &out)
        if !response.headerLines.bytes.isEmpty { out.append(contentsOf: response.headerLines.bytes) }
        for (name, value) in response.headers {
            appendUTF8(name, to: &out)
            append(": ", to: &out)
            appendUTF8(value, to: &out)
            append("\r\n", to: &out)
        }
    }

    /// Fixed bytes from the binary's read-only data: no lazy global, nothing retained.
    @inline(__always)
    private static func append(_ bytes: StaticString, to out: inout [UInt8]) {
        bytes.withUTF8Buffer { out.append(contentsOf: $0) }
    }

    private static func appendStatusLine(_ status: Int, to out: inout [UInt8]) {
        switch status {
        case 200: append("HTTP/1.1 200 OK\r\n", to: &out)
        case 201: append("HTTP/1.1 201 Created\r\n", to: &out)
        case 204: append("HTTP/1.1 204 No Content\r\n", to: &out)
        case 400: append("HTTP/1.1 400 Bad Request\r\n", to: &out)
        case 401: append("HTTP/1.1 401 Unauthorized\r\n", to: &out)
        case 403: append("HTTP/1.1 403 Forbidden\r\n", to: &out)
        case 404: append("HTTP/1.1 404 Not Found\r\n", to: &out)
        case 409: append("HTTP/1.1 409 Conflict\r\n", to: &out)
        case 413: append("HTTP/1.1 413 Content Too Large\r\n", to: &out)
        case 429: append("HTTP/1.1 429 Too Many Requests\r\n", to: &out)
        case 503: append("HTTP/1.1 503 Service Unavailable\r\n", to: &out)
        default: out.append(contentsOf: makeStatusLine(status))
        }
    }

    /// A string's bytes by one copy from its storage (the generic `append(contentsOf: s.utf8)`
    /// walks them one at a time).
    @inline(__always)
    private static func appendUTF8(_ string: String, to out: inout [UInt8]) {
        var string = string
        string.withUTF8 { out.append(contentsOf: $0) }
    }

    /// The statuses `appendStatusLine` writes from literals (`HTTPResponseTests` checks them
    /// against `reasonPhrase`).
    static let literalStatuses = [200, 201, 204, 400, 401, 403, 404, 409, 413, 429, 503]

    private static func makeStatusLine(_ status: Int) -> [UInt8] {
        Array("HTTP/1.1 \(status) \(reasonPhrase(status))\r\n".utf8)
    }

    /// Not SBCore's `JSONNumber`: SBHTTP's sources compile on their own (Scripts/fuzz.sh).
    private static func appendDecimal(_ value: Int, to out: inout [UInt8]) {
        guard value > 0 else {
            out.append(UInt8(ascii: "0"))
            return
        }
        var divisor = 1
        while divisor <= value / 10 { divisor *= 10 }
        var rest = value
        while divisor > 0 {
            out.append(UInt8(truncatingIfNeeded: rest / divisor) &+ 0x30)
            rest %= divisor
            divisor /= 10
        }
    }

    /// The head of a streaming response: no length, `Connection: close` (its body is
    /// delimited by the close, RFC 9112 §6.3), so no request after it is answered.
    public static func encodeStreamHead(_ response: HTTPResponse, into out: inout [UInt8]) {
        appendStatusAndHeaders(response, to: &out)
        append("Connection: close\r\n\r\n", to: &out)
    }

    public static func reasonPhrase(_ status: Int) -> String {
        switch status {
        case 100: "Continue"
        case 101: "Switching Protocols"
        case 200: "OK"
        case 201: "Created"
        case 204: "No Content"
        case 304: "Not Modified"
        case 400: "Bad Request"
        case 401: "Unauthorized"
        case 403: "Forbidden"
        case 404: "Not Found"
        case 405: "Method Not Allowed"
        case 408: "Request Timeout"
        case 409: "Conflict"
        case 413: "Content Too Large"
        case 414: "URI Too Long"
        case 415: "Unsupported Media Type"
        case 426: "Upgrade Required"
        case 429: "Too Many Requests"
        case 431: "Request Header Fields Too Large"
        case 500: "Internal Server Error"
        case 501: "Not Implemented"
        case 503: "Service Unavailable"
        case 505: "HTTP Version Not Supported"
        default: "Status"
        }
    }
}
