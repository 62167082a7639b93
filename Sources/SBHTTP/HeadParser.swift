#if canImport(Glibc)
import Glibc
#endif

/// Parses a complete request head whose line framing HeadScanner has already checked: the
/// request-line and field lines, each ending in CRLF, without the final empty line.
enum HeadParser {
    /// Not a `Result` of a tuple: that generic type's metadata was instantiated per request.
    enum Outcome {
        case head(ParsedHead)
        case failure(HTTPParseError)
    }

    /// `storage`: a finished request's fields to write into (`HTTPRequestParser.recycle`).
    static func parse(_ bytes: ArraySlice<UInt8>, limits: HTTPLimits, storage: inout HTTPHeaders?) -> Outcome {
        // Line by line, without collecting the lines first: HeadScanner guarantees each ends in CRLF.
        let firstLF = bytes.withUnsafeBufferPointer { head in
            memchr(head.baseAddress!, Int32(HTTPSyntax.lf), head.count).map { head.baseAddress!.distance(to: $0.assumingMemoryBound(to: UInt8.self)) }
        }
        guard let firstLF else { return .failure(.bad("empty request")) }
        let fieldsStart = bytes.startIndex + firstLF + 1
        let requestLine = bytes[bytes.startIndex..<max(bytes.startIndex, fieldsStart - 2)]
        let line: RequestLine
        switch parseRequestLine(requestLine, limits: limits) {
        case .failure(let error): return .failure(error)
        case .line(let parsed): line = parsed
        }

        // Taken, not copied: a recycled storage stays unique, and is written in place.
        var headers = storage.take() ?? HTTPHeaders(capacity: 8)
        var hosts = 0
        if let error = bytes[fieldsStart...].withUnsafeBufferPointer({ fields($0, into: &headers, hosts: &hosts) }) {
            return .failure(error)
        }
        guard line.minor == 0 || hosts == 1 else { return .failure(.bad("missing Host header")) }

        // Most targets are a plain path (no query, nothing escaped): it is the path as it is.
        let split: (path: String, query: [(String, String)])
        if line.isPlainPath {
            split = (line.target, [])
        } else {
            guard let decoded = PercentDecoding.splitTarget(line.target) else { return .failure(.bad("invalid percent-encoding in request target")) }
            split = decoded
        }
        let head = HTTPRequestHead(method: line.method, target: line.target, path: split.path, query: split.query,
                                   versionMinor: line.minor, headers: headers)
        switch BodyFraming.mode(headers, versionMinor: line.minor, limits: limits) {
        case .success(let mode): return .head(ParsedHead(head: head, mode: mode))
        case .failure(let error): return .failure(error)
        }
    }

    /// "HTTP/" (case-sensitive, RFC 9112 §2.3), compared byte by byte: no lazy global array.
    private static func isHTTPSlash(_ version: ArraySlice<UInt8>) -> Bool {
        let i = version.startIndex
        return version[i] == UInt8(ascii: "H") && version[i + 1] == UInt8(ascii: "T") && version[i + 2] == UInt8(ascii: "T")
            && version[i + 3] == UInt8(ascii: "P") && version[i + 4] == UInt8(ascii: "/")
    }

    /// request-line = method SP request-target SP HTTP-version (RFC 9112 §3), single spaces.
    /// Only HTTP/1.0 and HTTP/1.1 are accepted: any other well-formed version (HTTP/1.2 and
    /// HTTP/2.0 included) is 505, anything else 400.
    /// The field lines (each ending in CRLF): copied into `headers` at once, then checked line by
    /// line (`HTTPSyntax.fieldOffsets`) and indexed, names lowercased in place; one Host at most
    /// and a valid one (RFC 9112 §3.2). Works on the head's raw bytes.
    private static func fields(_ section: UnsafeBufferPointer<UInt8>, into headers: inout HTTPHeaders,
                               hosts: inout Int) -> HTTPParseError? {
        headers.entries.removeAll(keepingCapacity: true)
        headers.bytes.removeAll(keepingCapacity: true)
        headers.bytes.append(contentsOf: section)
        var entries = [HTTPHeaders.Entry]()
        swap(&entries, &headers.entries)  // filled while the bytes are open for writing
        defer { swap(&entries, &headers.entries) }
        return headers.bytes.withUnsafeMutableBufferPointer { stored -> HTTPParseError? in
            guard let base = stored.baseAddress else { return nil }
            var offsets = HTTPSyntax.FieldOffsets()
            var lineStart = 0
            while lineStart < stored.count {
                let lf = memchr(base + lineStart, Int32(HTTPSyntax.lf), stored.count - lineStart)
                let lineEnd = lf.map { base.distance(to: $0.assumingMemoryBound(to: UInt8.self)) } ?? stored.count
                let line = UnsafeBufferPointer(start: base + lineStart, count: max(0, lineEnd - 1 - lineStart))
                if let error = HTTPSyntax.fieldOffsets(line, &offsets) { return error }
                for i in lineStart..<(lineStart + offsets.colon) { base[i] = HeaderName.lowercase(base[i]) }
                let name = UnsafeBufferPointer(start: base + lineStart, count: offsets.colon)
                let value = UnsafeBufferPointer(rebasing: line[offsets.valueStart..<offsets.valueEnd])
                if name.count == 4, name[0] == UInt8(ascii: "h"), name[1] == UInt8(ascii: "o"), name[2] == UInt8(ascii: "s"),
                   name[3] == UInt8(ascii: "t") {
                    hosts += 1
                    guard hosts == 1 else { return .bad("more than one Host header") }
                    guard RequestTarget.isValidHost(value) else { return .bad("invalid Host header") }
                }
                entries.append(HTTPHeaders.Entry(nameStart: UInt32(lineStart), nameEnd: UInt32(lineStart + offsets.colon),
                                                 valueStart: UInt32(lineStart + offsets.valueStart),
                                                 valueEnd: UInt32(lineStart + offsets.valueEnd)))
                lineStart = lineEnd + 1
            }
            return nil
        }
    }

    struct RequestLine {
        var method: HTTPMethod
        var target: String
        var minor: Int
        /// The target starts with "/" and holds no "%" or "?": `PercentDecoding.splitTarget`
        /// would return it unchanged, so it is not called.
        var isPlainPath = false
    }

    enum RequestLineOutcome {
        case line(RequestLine)
        case failure(HTTPParseError)
    }

    static func parseRequestLine(_ line: ArraySlice<UInt8>, limits: HTTPLimits) -> RequestLineOutcome {
        // Exactly two single spaces (no array of parts: this runs for every request).
        guard let firstSpace = line.firstIndex(of: HTTPSyntax.sp),
              let secondSpace = line[(firstSpace + 1)...].firstIndex(of: HTTPSyntax.sp),
              !line[(secondSpace + 1)...].contains(HTTPSyntax.sp) else { return .failure(.bad("malformed request line")) }
        let methodBytes = line[line.startIndex..<firstSpace]
        let targetBytes = line[(firstSpace + 1)..<secondSpace]
        let version = line[(secondSpace + 1)...]
        guard !methodBytes.isEmpty, methodBytes.allSatisfy(HTTPSyntax.isTokenChar) else { return .failure(.bad("invalid method")) }
        guard version.count == 8, isHTTPSlash(version), version[version.startIndex + 6] == UInt8(ascii: "."),
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
        let isOptions = if case .options = method { true } else { false }
        if let error = RequestTarget.validate(targetBytes, isOptions: isOptions) { return .failure(error) }
        let isPlainPath = targetBytes.first == UInt8(ascii: "/") && targetBytes.withUnsafeBufferPointer { bytes in
            memchr(bytes.baseAddress!, Int32(UInt8(ascii: "%")), bytes.count) == nil
                && memchr(bytes.baseAddress!, Int32(UInt8(ascii: "?")), bytes.count) == nil
        }
        return .line(RequestLine(method: method, target: String(decoding: targetBytes, as: UTF8.self), minor: minor == UInt8(ascii: "1") ? 1 : 0,
                                 isPlainPath: isPlainPath))
    }
}
