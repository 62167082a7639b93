#if canImport(Glibc)
import Glibc
#endif

/// Finds the end of a request head as its bytes arrive, checking line framing on the way
/// (RFC 9112 §2.2): every line ends in CRLF, so a bare LF or a bare CR is a 400 — never a line
/// end, since a peer that frames lines differently could smuggle a request past us. The
/// request-line, head-size and field-count limits are decided at the byte that crosses them.
/// Offsets are relative to the head's first byte, so compacting the buffer does not move them.
struct HeadScanner: Sendable {
    enum Outcome {
        case needMore
        /// `fieldsEnd`: just past the CRLF of the last field line; `end`: just past the empty line.
        case complete(fieldsEnd: Int, end: Int)
        case failure(HTTPParseError)
    }

    /// Bytes scanned so far.
    var scanned = 0
    var lineStart = 0
    var lines = 0

    mutating func scan(_ buffer: [UInt8], from base: Int, limits: HTTPLimits) -> Outcome {
        buffer.withUnsafeBufferPointer { scan($0, from: base, limits: limits) }
    }

    private mutating func scan(_ bytes: UnsafeBufferPointer<UInt8>, from base: Int, limits: HTTPLimits) -> Outcome {
        var i = base + scanned
        defer { scanned = i - base }
        while true {
            // Skip to the next CR or LF, but never past the offset where a limit fires: the
            // request-line limit applies until the first line ends, the head limit always.
            let limitOffset = lines == 0 ? min(limits.maxTargetBytes + 32, limits.maxHeadBytes) : limits.maxHeadBytes
            let stop = min(bytes.count, base + limitOffset)
            i = Self.lineBreak(bytes, from: i, to: stop)
            if i == bytes.count, i < base + limitOffset { return .needMore }
            if let error = overLimit(i - base, limits) { return .failure(error) }
            if bytes[i] == HTTPSyntax.lf { return .failure(.bad("bare LF in request head")) }
            guard i + 1 < bytes.count else { return .needMore }  // decided when the next byte arrives
            if let error = overLimit(i + 1 - base, limits) { return .failure(error) }
            guard bytes[i + 1] == HTTPSyntax.lf else { return .failure(.bad("bare CR in request head")) }
            let length = i - (base + lineStart)
            i += 2
            if length == 0 {
                // Leading empty lines are skipped by the parser, so this is the end of the head.
                guard lines > 0 else { return .failure(.bad("empty request line")) }
                return .complete(fieldsEnd: base + lineStart, end: i)
            }
            lines += 1
            lineStart = i - base
            if lines - 1 > limits.maxHeaderCount {
                return .failure(HTTPParseError(status: 431, message: "more than \(limits.maxHeaderCount) header fields"))
            }
        }
    }

    /// The first CR or LF in `bytes[from..<to]`, or `to`: two `memchr`s (vectorised) instead of a
    /// loop over every byte of the line.
    private static func lineBreak(_ bytes: UnsafeBufferPointer<UInt8>, from: Int, to: Int) -> Int {
        guard from < to, let base = bytes.baseAddress else { return max(from, to) }
        let length = to - from
        let start = UnsafeRawPointer(base + from)
        let cr = memchr(start, Int32(HTTPSyntax.cr), length).map { start.distance(to: $0) } ?? length
        let lf = memchr(start, Int32(HTTPSyntax.lf), cr).map { start.distance(to: $0) } ?? cr
        return from + min(cr, lf)
    }

    /// The error for byte number `offset` of the head (0-based), if that byte crosses a limit.
    private func overLimit(_ offset: Int, _ limits: HTTPLimits) -> HTTPParseError? {
        if lines == 0, offset >= limits.maxTargetBytes + 32 {
            return HTTPParseError(status: 414, message: "request target longer than \(limits.maxTargetBytes) bytes")
        }
        if offset >= limits.maxHeadBytes {
            return HTTPParseError(status: 431, message: "request head larger than \(limits.maxHeadBytes) bytes")
        }
        return nil
    }
}
