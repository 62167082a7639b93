/// Decodes a chunked body incrementally from the parser's buffer (RFC 9112 §7.1): sizes in hex
/// with optional extensions, data, CRLF, a last chunk, optional trailer fields, CRLF. Lines end
/// in CRLF only; extensions are checked and dropped, trailer fields checked and dropped.
struct ChunkedDecoder: Sendable {
    enum Step: Sendable {
        case size
        case data(remaining: Int)
        case dataEnd
        case trailers
    }

    enum Outcome {
        case needMore
        case done([UInt8])
        case failure(HTTPParseError)
    }

    var step = Step.size
    var body: [UInt8] = []
    var trailerBytes = 0
    var trailerCount = 0
    /// Bytes after `start` already searched for a LF (no rescanning on byte-at-a-time input).
    var searched = 0

    mutating func decode(_ buffer: [UInt8], from start: inout Int, limits: HTTPLimits) -> Outcome {
        while true {
            switch step {
            case .size:
                guard let found = lineEnd(buffer, from: start) else {
                    if buffer.count - start > 4096 { return .failure(.bad("chunk size line too long")) }
                    return .needMore
                }
                guard let lineEnd = found else { return .failure(.bad("bare LF in chunked body")) }
                let size: UInt64
                switch ChunkLine.size(buffer[start..<lineEnd]) {
                case .failure(let error): return .failure(error)
                case .success(let value): size = value
                }
                start = lineEnd + 2
                if size == 0 {
                    step = .trailers
                } else {
                    guard size <= UInt64(limits.maxBodyBytes - body.count) else {
                        return .failure(HTTPParseError(status: 413, message: "body is over the \(limits.maxBodyBytes)-byte limit"))
                    }
                    step = .data(remaining: Int(size))
                }
            case .data(let remaining):
                let available = min(remaining, buffer.count - start)
                guard available > 0 else { return .needMore }
                body.append(contentsOf: buffer[start..<(start + available)])
                start += available
                step = available == remaining ? .dataEnd : .data(remaining: remaining - available)
            case .dataEnd:
                guard buffer.count - start >= 2 else { return .needMore }
                guard buffer[start] == HTTPSyntax.cr, buffer[start + 1] == HTTPSyntax.lf else {
                    return .failure(.bad("chunk data not followed by CRLF"))
                }
                start += 2
                step = .size
            case .trailers:
                guard let found = lineEnd(buffer, from: start) else {
                    if trailerBytes + buffer.count - start > limits.maxHeadBytes {
                        return .failure(HTTPParseError(status: 431, message: "trailer fields too large"))
                    }
                    return .needMore
                }
                guard let lineEnd = found else { return .failure(.bad("bare LF in trailer section")) }
                let line = buffer[start..<lineEnd]
                start = lineEnd + 2
                if line.isEmpty { return .done(body) }
                trailerBytes += line.count + 2
                trailerCount += 1
                guard trailerBytes <= limits.maxHeadBytes, trailerCount <= limits.maxHeaderCount else {
                    return .failure(HTTPParseError(status: 431, message: "trailer fields too large"))
                }
                // Trailer fields have the header field syntax (§7.1.2); we check it and drop them.
                if case .failure(let error) = HTTPSyntax.fieldLine(line) { return .failure(error) }
            }
        }
    }

    /// nil: no LF yet. .some(nil): the first LF is bare. .some(i): the CR of the first CRLF.
    /// A bare CR before it is left to the line's own grammar, which has no room for one.
    private mutating func lineEnd(_ buffer: [UInt8], from: Int) -> Int?? {
        guard let lf = buffer[(from + searched)...].firstIndex(of: HTTPSyntax.lf) else {
            searched = buffer.count - from
            return nil
        }
        searched = 0
        return lf > from && buffer[lf - 1] == HTTPSyntax.cr ? .some(lf - 1) : .some(nil)
    }
}

/// `chunk-size [ chunk-ext ]` (RFC 9112 §7.1, §7.1.1).
enum ChunkLine {
    /// The size; at most 16 hex digits (no sign, no whitespace, no overflow of 64 bits), then
    /// `*( BWS ";" BWS token [ BWS "=" BWS ( token / quoted-string ) ] )` and nothing else.
    static func size(_ line: ArraySlice<UInt8>) -> Result<UInt64, HTTPParseError> {
        var i = line.startIndex
        var size: UInt64 = 0
        while i < line.endIndex, let h = PercentDecoding.hex(line[i]) {
            guard i - line.startIndex < 16 else { return .failure(.bad("chunk size longer than 16 hex digits")) }
            size = size << 4 | UInt64(h)
            i += 1
        }
        guard i > line.startIndex else { return .failure(.bad("invalid chunk size")) }
        guard extensions(line[i...]) else { return .failure(.bad("invalid chunk extension")) }
        return .success(size)
    }

    static func extensions(_ ext: ArraySlice<UInt8>) -> Bool {
        var i = ext.startIndex
        while i < ext.endIndex {
            i = HTTPSyntax.whitespace(ext, from: i)  // BWS before ";" (whitespace at the end is not allowed)
            guard i < ext.endIndex, ext[i] == UInt8(ascii: ";") else { return false }
            i = HTTPSyntax.whitespace(ext, from: i + 1)
            let nameEnd = HTTPSyntax.token(ext, from: i)
            guard nameEnd > i else { return false }
            i = nameEnd
            let eq = HTTPSyntax.whitespace(ext, from: i)
            if eq < ext.endIndex, ext[eq] == UInt8(ascii: "=") {
                let v = HTTPSyntax.whitespace(ext, from: eq + 1)
                let vEnd = HTTPSyntax.quotedString(ext, from: v) ?? HTTPSyntax.token(ext, from: v)
                guard vEnd > v else { return false }
                i = vEnd
            }
        }
        return true
    }
}
