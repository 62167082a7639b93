/// Parses a complete request head (request-line and fields, without the final CRLFCRLF).
enum HeadParser {
    static func parse(_ bytes: ArraySlice<UInt8>, limits: HTTPLimits) -> Result<(HTTPRequestHead, HTTPRequestParser.BodyMode), HTTPParseError> {
        var lines: [ArraySlice<UInt8>] = []
        var lineStart = bytes.startIndex
        var i = bytes.startIndex
        while i < bytes.endIndex {
            if bytes[i] == 10 {
                var end = i
                if end > lineStart, bytes[end - 1] == 13 { end -= 1 }
                lines.append(bytes[lineStart..<end])
                lineStart = i + 1
            }
            i += 1
        }
        var last = bytes[lineStart..<bytes.endIndex]
        if last.last == 13 { last = last.dropLast() }
        lines.append(last)

        guard let requestLine = lines.first else { return .failure(.bad("empty request")) }
        let parts = requestLine.split(separator: 0x20, omittingEmptySubsequences: false)
        guard parts.count == 3, !parts[0].isEmpty, !parts[1].isEmpty else {
            return .failure(.bad("malformed request line"))
        }
        guard parts[0].allSatisfy(isTokenChar) else { return .failure(.bad("invalid method")) }
        guard parts[1].count <= limits.maxTargetBytes else {
            return .failure(HTTPParseError(status: 414, message: "request target longer than \(limits.maxTargetBytes) bytes"))
        }
        guard parts[1].allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else { return .failure(.bad("invalid characters in request target")) }
        let version = parts[2]
        guard version.count == 8, version.starts(with: Array("HTTP/".utf8)), version[version.startIndex + 6] == UInt8(ascii: ".") else {
            return .failure(.bad("malformed HTTP version"))
        }
        let major = version[version.startIndex + 5], minor = version[version.startIndex + 7]
        guard major == UInt8(ascii: "1"), minor == UInt8(ascii: "0") || minor == UInt8(ascii: "1") else {
            let isDigits = (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(major) && (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(minor)
            return .failure(isDigits ? HTTPParseError(status: 505, message: "HTTP version not supported") : .bad("malformed HTTP version"))
        }
        let method = HTTPMethod(String(decoding: parts[0], as: UTF8.self))
        let target = String(decoding: parts[1], as: UTF8.self)
        guard target.hasPrefix("/") || target.hasPrefix("http://") || target.hasPrefix("https://") || (target == "*" && method == .options) else {
            return .failure(.bad("request target must be an absolute path"))
        }

        var headers = HTTPHeaders()
        for line in lines.dropFirst() {
            guard let first = line.first else { continue }
            if first == 0x20 || first == 0x09 { return .failure(.bad("obsolete header line folding")) }
            guard let colon = line.firstIndex(of: UInt8(ascii: ":")) else { return .failure(.bad("header line without a colon")) }
            let name = line[line.startIndex..<colon]
            guard !name.isEmpty, name.allSatisfy(isTokenChar) else { return .failure(.bad("invalid header name")) }
            var value = line[(colon + 1)...]
            while let f = value.first, f == 0x20 || f == 0x09 { value = value.dropFirst() }
            while let l = value.last, l == 0x20 || l == 0x09 { value = value.dropLast() }
            guard value.allSatisfy({ $0 == 0x09 || ($0 >= 0x20 && $0 != 0x7F) }) else {
                return .failure(.bad("invalid characters in header value"))
            }
            guard headers.count < limits.maxHeaderCount else {
                return .failure(HTTPParseError(status: 431, message: "more than \(limits.maxHeaderCount) header fields"))
            }
            headers.append(name: String(decoding: name, as: UTF8.self).lowercased(), value: String(decoding: value, as: UTF8.self))
        }
        guard !(minor == UInt8(ascii: "1") && headers["host"] == nil) else { return .failure(.bad("missing Host header")) }

        let head = HTTPRequestHead(method: method, target: target, versionMinor: minor == UInt8(ascii: "1") ? 1 : 0, headers: headers)
        guard PercentDecoding.splitTarget(target) != nil else { return .failure(.bad("invalid percent-encoding in request target")) }
        return bodyMode(headers, limits: limits).map { (head, $0) }
    }

    static func bodyMode(_ headers: HTTPHeaders, limits: HTTPLimits) -> Result<HTTPRequestParser.BodyMode, HTTPParseError> {
        let encodings = headers.values("transfer-encoding")
        let lengths = headers.values("content-length")
        if !encodings.isEmpty {
            guard lengths.isEmpty else { return .failure(.bad("Content-Length and Transfer-Encoding both present")) }
            let codings = encodings.flatMap { $0.split(separator: ",").map { $0.trimmingSpaces().lowercased() } }
            guard codings.last == "chunked" else {
                return .failure(codings.contains("chunked") ? .bad("chunked must be the last transfer coding")
                                : HTTPParseError(status: 501, message: "transfer coding not implemented"))
            }
            guard codings.count == 1 else { return .failure(HTTPParseError(status: 501, message: "transfer coding not implemented")) }
            return .success(.chunked)
        }
        guard !lengths.isEmpty else { return .success(.none) }
        var length: Int?
        for text in lengths.flatMap({ $0.split(separator: ",", omittingEmptySubsequences: false) }) {
            let digits = text.trimmingSpaces()
            guard !digits.isEmpty, digits.count <= 18, digits.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }), let value = Int(digits) else {
                return .failure(.bad("invalid Content-Length"))
            }
            if let length, length != value { return .failure(.bad("conflicting Content-Length values")) }
            length = value
        }
        guard let length else { return .failure(.bad("invalid Content-Length")) }
        guard length <= limits.maxBodyBytes else {
            return .failure(HTTPParseError(status: 413, message: "body of \(length) bytes is over the \(limits.maxBodyBytes)-byte limit"))
        }
        return .success(length == 0 ? .none : .length(length))
    }

    static func isTokenChar(_ c: UInt8) -> Bool {
        switch c {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            true
        default:
            Array("!#$%&'*+-.^_`|~".utf8).contains(c)
        }
    }
}
