/// How the request body is framed (RFC 9112 §6.3), with every ambiguity a 400 so that no peer
/// in front of us can frame the same bytes differently (request smuggling).
enum BodyFraming {
    static func mode(_ headers: HTTPHeaders, versionMinor: Int, limits: HTTPLimits) -> Result<HTTPRequestParser.BodyMode, HTTPParseError> {
        var encodings: [ArraySlice<UInt8>] = []
        headers.forEachValue(HeaderName.transferEncoding) { encodings.append($0) }
        var lengthCount = 0
        var digits: ArraySlice<UInt8> = []  // the last Content-Length value (only one is accepted)
        headers.forEachValue(HeaderName.contentLength) { value in
            lengthCount += 1
            digits = value
        }
        if !encodings.isEmpty {
            // §6.3 ¶3 says "ought to be handled as an error": we do.
            guard lengthCount == 0 else { return .failure(.bad("Content-Length and Transfer-Encoding both present")) }
            // §6.1: Transfer-Encoding in HTTP/1.0 means faulty framing.
            guard versionMinor == 1 else { return .failure(.bad("Transfer-Encoding in an HTTP/1.0 request")) }
            return transferCodings(encodings).map { _ in .chunked }
        }
        guard lengthCount > 0 else { return .success(.none) }
        // RFC 9110 §8.6 lets a recipient accept identical repeats; we take the safer choice and
        // accept exactly one field holding one 1*DIGIT value (at most 20 digits, like h11).
        guard lengthCount == 1 else { return .failure(.bad("more than one Content-Length")) }
        guard !digits.isEmpty, digits.count <= 20, digits.allSatisfy(HTTPSyntax.isDigit) else {
            return .failure(.bad("invalid Content-Length"))
        }
        var length = 0
        for d in digits {
            length = length * 10 + Int(d - UInt8(ascii: "0"))
            guard length <= limits.maxBodyBytes else {
                return .failure(HTTPParseError(status: 413, message: "body of \(String(decoding: digits, as: UTF8.self)) bytes is over the \(limits.maxBodyBytes)-byte limit"))
            }
        }
        return .success(length == 0 ? .none : .length(length))
    }

    /// Checks `Transfer-Encoding` (RFC 9112 §6.1, §7): a list of transfer-codings
    /// (`token *( OWS ";" OWS token "=" ( token / quoted-string ) )`) that must end in exactly one
    /// `chunked`. Malformed lists, empty elements (stricter than RFC 9110 §5.6.1.2, on purpose),
    /// parameters on chunked and a chunked that is not final are 400 — §6.3 requires 400 when
    /// chunked is not final, so `gzip` alone is a 400 too; an unknown coding before a final chunked
    /// is 501 (§6.1).
    static func transferCodings(_ fields: [ArraySlice<UInt8>]) -> Result<Void, HTTPParseError> {
        var names: [String] = []
        for bytes in fields {
            var i = bytes.startIndex
            while true {
                i = HTTPSyntax.whitespace(bytes, from: i)
                let nameEnd = HTTPSyntax.token(bytes, from: i)
                guard nameEnd > i else { return .failure(.bad("malformed Transfer-Encoding")) }
                let name = String(decoding: bytes[i..<nameEnd], as: UTF8.self).lowercased()
                i = nameEnd
                var hasParameters = false
                while true {
                    let j = HTTPSyntax.whitespace(bytes, from: i)
                    guard j < bytes.endIndex, bytes[j] == UInt8(ascii: ";") else { break }
                    let p = HTTPSyntax.whitespace(bytes, from: j + 1)
                    let pEnd = HTTPSyntax.token(bytes, from: p)
                    let eq = HTTPSyntax.whitespace(bytes, from: pEnd)  // BWS "=" BWS (RFC 9110 §10.1.4)
                    guard pEnd > p, eq < bytes.endIndex, bytes[eq] == UInt8(ascii: "=") else { return .failure(.bad("malformed Transfer-Encoding")) }
                    let v = HTTPSyntax.whitespace(bytes, from: eq + 1)
                    let vEnd = HTTPSyntax.quotedString(bytes, from: v) ?? HTTPSyntax.token(bytes, from: v)
                    guard vEnd > v else { return .failure(.bad("malformed Transfer-Encoding")) }
                    i = vEnd
                    hasParameters = true
                }
                guard !(name == "chunked" && hasParameters) else { return .failure(.bad("chunked takes no parameters")) }
                names.append(name)
                i = HTTPSyntax.whitespace(bytes, from: i)
                if i == bytes.endIndex { break }
                guard bytes[i] == UInt8(ascii: ",") else { return .failure(.bad("malformed Transfer-Encoding")) }
                i += 1
            }
        }
        guard names.last == "chunked", names.firstIndex(of: "chunked") == names.count - 1 else {
            return .failure(.bad("chunked must be the final transfer coding, and only once"))
        }
        guard names.count == 1 else { return .failure(HTTPParseError(status: 501, message: "transfer coding not implemented")) }
        return .success(())
    }
}
