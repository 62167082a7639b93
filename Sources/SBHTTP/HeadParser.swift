/// Parses a complete request head whose line framing HeadScanner has already checked: the
/// request-line and field lines, each ending in CRLF, without the final empty line.
enum HeadParser {
    static func parse(_ bytes: ArraySlice<UInt8>, limits: HTTPLimits) -> Result<(HTTPRequestHead, HTTPRequestParser.BodyMode), HTTPParseError> {
        // Line by line, without collecting the lines first: HeadScanner guarantees each ends in CRLF.
        guard let firstLF = bytes.firstIndex(of: HTTPSyntax.lf) else { return .failure(.bad("empty request")) }
        let requestLine = bytes[bytes.startIndex..<max(bytes.startIndex, firstLF - 1)]
        let line: (method: HTTPMethod, target: String, minor: Int)
        switch parseRequestLine(requestLine, limits: limits) {
        case .failure(let error): return .failure(error)
        case .success(let parsed): line = parsed
        }

        var headers = HTTPHeaders(capacity: 8, byteCapacity: bytes.endIndex - firstLF)
        var hosts = 0
        var lineStart = firstLF + 1
        while lineStart < bytes.endIndex {
            let lineEnd = bytes[lineStart...].firstIndex(of: HTTPSyntax.lf) ?? bytes.endIndex
            let fieldLine = bytes[lineStart..<max(lineStart, lineEnd - 1)]
            lineStart = lineEnd + 1
            switch HTTPSyntax.fieldLine(fieldLine) {
            case .failure(let error):
                return .failure(error)
            case .success(let (name, value)):
                if HeaderName.equalsIgnoringASCIICase(name, HeaderName.host) {
                    // RFC 9112 §3.2: 400 for more than one Host or an invalid one.
                    hosts += 1
                    guard hosts == 1 else { return .failure(.bad("more than one Host header")) }
                    guard RequestTarget.isValidHost(value) else { return .failure(.bad("invalid Host header")) }
                }
                headers.append(name: name, value: value)
            }
        }
        guard line.minor == 0 || hosts == 1 else { return .failure(.bad("missing Host header")) }

        guard let split = PercentDecoding.splitTarget(line.target) else { return .failure(.bad("invalid percent-encoding in request target")) }
        let head = HTTPRequestHead(method: line.method, target: line.target, path: split.path, query: split.query,
                                   versionMinor: line.minor, headers: headers)
        return BodyFraming.mode(headers, versionMinor: line.minor, limits: limits).map { (head, $0) }
    }

    private static let httpSlash: [UInt8] = Array("HTTP/".utf8)

    /// request-line = method SP request-target SP HTTP-version (RFC 9112 §3), single spaces.
    /// Only HTTP/1.0 and HTTP/1.1 are accepted: any other well-formed version (HTTP/1.2 and
    /// HTTP/2.0 included) is 505, anything else 400.
    static func parseRequestLine(_ line: ArraySlice<UInt8>, limits: HTTPLimits) -> Result<(method: HTTPMethod, target: String, minor: Int), HTTPParseError> {
        // Exactly two single spaces (no array of parts: this runs for every request).
        guard let firstSpace = line.firstIndex(of: HTTPSyntax.sp),
              let secondSpace = line[(firstSpace + 1)...].firstIndex(of: HTTPSyntax.sp),
              !line[(secondSpace + 1)...].contains(HTTPSyntax.sp) else { return .failure(.bad("malformed request line")) }
        let methodBytes = line[line.startIndex..<firstSpace]
        let targetBytes = line[(firstSpace + 1)..<secondSpace]
        let version = line[(secondSpace + 1)...]
        guard !methodBytes.isEmpty, methodBytes.allSatisfy(HTTPSyntax.isTokenChar) else { return .failure(.bad("invalid method")) }
        guard version.count == 8, version.starts(with: httpSlash), version[version.startIndex + 6] == UInt8(ascii: "."),
              HTTPSyntax.isDigit(version[version.startIndex + 5]), HTTPSyntax.isDigit(version[version.startIndex + 7]) else {
            return .failure(.bad("malformed HTTP version"))
        }
        let major = version[version.startIndex + 5], minor = version[version.startIndex + 7]
        guard major == UInt8(ascii: "1"), minor == UInt8(ascii: "0") || minor == UInt8(ascii: "1") else {
            return .failure(HTTPParseError(status: 505, message: "HTTP version not supported"))
        }
        guard !targetBytes.isEmpty else { return .failure(.bad("malformed request line")) }
        guard targetBytes.count <= limits.maxTargetBytes else {
            return .failure(HTTPParseError(status: 414, message: "request target longer than \(limits.maxTargetBytes) bytes"))
        }
        let method = HTTPMethod(methodBytes)
        if let error = RequestTarget.validate(targetBytes, isOptions: method == .options) { return .failure(error) }
        return .success((method, String(decoding: targetBytes, as: UTF8.self), minor == UInt8(ascii: "1") ? 1 : 0))
    }
}
