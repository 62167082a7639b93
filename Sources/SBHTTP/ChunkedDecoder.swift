/// Decodes a chunked body incrementally from the parser's buffer (RFC 9112 §7.1): sizes in hex
/// with optional extensions, data, CRLF, a last chunk, optional trailer fields, CRLF.
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

    mutating func decode(_ buffer: [UInt8], from start: inout Int, limits: HTTPLimits) -> Outcome {
        while true {
            switch step {
            case .size:
                guard let lineEnd = lineEnd(buffer, from: start) else {
                    if buffer.count - start > 4096 { return .failure(.bad("chunk size line too long")) }
                    return .needMore
                }
                var i = start
                var size = 0
                var digits = 0
                while i < lineEnd, let h = PercentDecoding.hex(buffer[i]) {
                    digits += 1
                    guard digits <= 15 else { return .failure(.bad("invalid chunk size")) }
                    size = size << 4 | Int(h)
                    i += 1
                }
                guard digits > 0 else { return .failure(.bad("invalid chunk size")) }
                // Whatever follows the digits must be an extension (';…') or whitespace.
                while i < lineEnd, buffer[i] == 0x20 || buffer[i] == 0x09 { i += 1 }
                guard i == lineEnd || buffer[i] == UInt8(ascii: ";") else { return .failure(.bad("invalid chunk size")) }
                start = lineEnd + 2
                if size == 0 {
                    step = .trailers
                } else {
                    guard body.count + size <= limits.maxBodyBytes else {
                        return .failure(HTTPParseError(status: 413, message: "body is over the \(limits.maxBodyBytes)-byte limit"))
                    }
                    step = .data(remaining: size)
                }
            case .data(let remaining):
                let available = min(remaining, buffer.count - start)
                guard available > 0 else { return .needMore }
                body.append(contentsOf: buffer[start..<(start + available)])
                start += available
                step = available == remaining ? .dataEnd : .data(remaining: remaining - available)
            case .dataEnd:
                guard buffer.count - start >= 2 else { return .needMore }
                guard buffer[start] == 13, buffer[start + 1] == 10 else { return .failure(.bad("chunk data not followed by CRLF")) }
                start += 2
                step = .size
            case .trailers:
                guard let lineEnd = lineEnd(buffer, from: start) else {
                    if trailerBytes + buffer.count - start > limits.maxHeadBytes {
                        return .failure(HTTPParseError(status: 431, message: "trailer fields too large"))
                    }
                    return .needMore
                }
                let length = lineEnd - start
                start = lineEnd + 2
                if length == 0 { return .done(body) }
                trailerBytes += length + 2
                guard trailerBytes <= limits.maxHeadBytes else { return .failure(HTTPParseError(status: 431, message: "trailer fields too large")) }
            }
        }
    }

    /// Index of the CR of the next CRLF at or after `from`.
    private func lineEnd(_ buffer: [UInt8], from: Int) -> Int? {
        var i = from
        while i + 1 < buffer.count {
            if buffer[i] == 13 && buffer[i + 1] == 10 { return i }
            i += 1
        }
        return nil
    }
}
