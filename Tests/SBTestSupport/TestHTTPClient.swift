public import Foundation

/// A response as the test client saw it.
public struct TestResponse {
    public var status: Int
    public var headers: [String: String]
    public var body: [UInt8]

    public var text: String { String(decoding: body, as: UTF8.self) }
    public var json: Any? { try? JSONSerialization.jsonObject(with: Data(body), options: [.fragmentsAllowed]) }
    public var object: [String: Any] { (json as? [String: Any]) ?? [:] }
    public func header(_ name: String) -> String? { headers[name.lowercased()] }
}

/// A keep-alive HTTP/1.1 client over one `TestSocket`, with a parser just good enough for our
/// server's responses (Content-Length bodies, or read-to-close).
public final class TestHTTPClient {
    public let socket: TestSocket
    private var buffer: [UInt8] = []

    public init(port: Int, timeoutSeconds: Int = 10) throws {
        socket = try TestSocket(port: port, timeoutSeconds: timeoutSeconds)
    }

    @discardableResult
    public func request(_ method: String, _ path: String, headers: [(String, String)] = [], body: [UInt8]? = nil,
                        json: Any? = nil) throws -> TestResponse {
        var payload = body
        var allHeaders = headers
        if let json {
            payload = try Array(JSONSerialization.data(withJSONObject: json, options: [.fragmentsAllowed]))
            if !headers.contains(where: { $0.0.lowercased() == "content-type" }) {
                allHeaders.append(("Content-Type", "application/json"))
            }
        }
        var head = "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        for (name, value) in allHeaders { head += "\(name): \(value)\r\n" }
        if let payload { head += "Content-Length: \(payload.count)\r\n" }
        head += "\r\n"
        try socket.send(Array(head.utf8) + (payload ?? []))
        return try readResponse(headRequest: method == "HEAD")
    }

    public func sendRaw(_ bytes: [UInt8]) throws { try socket.send(bytes) }

    public func readResponse(headRequest: Bool = false) throws -> TestResponse {
        while true {
            if let response = try parse(headRequest: headRequest) { return response }
            let chunk = try socket.receive()
            if chunk.isEmpty {
                if let response = try parse(headRequest: headRequest, atEOF: true) { return response }
                throw TestError("connection closed before a complete response (\(buffer.count) bytes buffered)")
            }
            buffer += chunk
        }
    }

    private func parse(headRequest: Bool, atEOF: Bool = false) throws -> TestResponse? {
        guard let end = find([13, 10, 13, 10]) else { return nil }
        let headText = String(decoding: buffer[0..<end], as: UTF8.self)
        var lines = headText.components(separatedBy: "\r\n")
        let statusLine = lines.removeFirst().split(separator: " ")
        guard statusLine.count >= 2, let status = Int(statusLine[1]) else { throw TestError("bad status line: \(headText)") }
        var headers: [String: String] = [:]
        for line in lines {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        let bodyStart = end + 4
        if status == 100 {
            buffer.removeFirst(bodyStart)
            return try parse(headRequest: headRequest, atEOF: atEOF)
        }
        let length: Int
        if headRequest || status == 204 || status == 304 {
            length = 0
        } else if let cl = headers["content-length"], let n = Int(cl) {
            length = n
        } else {
            guard atEOF else { return nil }
            length = buffer.count - bodyStart
        }
        guard buffer.count >= bodyStart + length else { return nil }
        let body = Array(buffer[bodyStart..<(bodyStart + length)])
        buffer.removeFirst(bodyStart + length)
        return TestResponse(status: status, headers: headers, body: body)
    }

    private func find(_ needle: [UInt8]) -> Int? {
        guard buffer.count >= needle.count else { return nil }
        for i in 0...(buffer.count - needle.count) where buffer[i] == needle[0] && Array(buffer[i..<(i + needle.count)]) == needle {
            return i
        }
        return nil
    }

    public func close() { socket.close() }
}
