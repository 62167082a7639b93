/// A parsed head and how its body is framed. One struct, not two enum payload values: those
/// were copied as a tuple, through runtime metadata, per request.
struct ParsedHead: Sendable {
    var head: HTTPRequestHead
    var mode: HTTPRequestParser.BodyMode
}

/// Incremental HTTP/1.1 request parser: feed bytes, pull events. Pure — no sockets, no clock —
/// and it gives the same events however the input is split.
public struct HTTPRequestParser: Sendable {
    enum BodyMode: Sendable {
        case none
        case length(Int)
        case chunked
    }

    enum State: Sendable {
        case head
        /// The head is parsed; its body is still arriving.
        case body(ParsedHead)
        case failed(HTTPParseError)
    }

    let limits: HTTPLimits
    var buffer: [UInt8] = []
    /// Start of the unconsumed bytes in `buffer`.
    var start = 0
    /// Progress through the head being received (no rescanning on byte-at-a-time input).
    var scanner = HeadScanner()
    var state: State = .head
    var chunked = ChunkedDecoder()
    /// The last answered request's field storage, for the next head (`recycle`).
    var spareHeaders: HTTPHeaders?

    public init(limits: HTTPLimits = .init()) {
        self.limits = limits
    }

    public mutating func feed(_ bytes: UnsafeRawBufferPointer) {
        if case .failed = state { return }
        buffer.append(contentsOf: bytes)
    }

    public mutating func feed(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { feed($0) }
    }

    /// True when nothing of a next request has arrived.
    public var isIdle: Bool {
        if case .head = state { return start == buffer.count }
        return false
    }

    public var hasBufferedBytes: Bool { start < buffer.count }

    /// Bytes received beyond the last complete request (after an upgrade they belong to the
    /// new protocol).
    public mutating func takeRemainingBytes() -> [UInt8] {
        let rest = Array(buffer[start...])
        buffer = []
        start = 0
        scanner = HeadScanner()
        return rest
    }

    /// The next event: `.request` once a request is complete, `.head` before it only when the
    /// head asks for `100 Continue` (the only reason to act before the body is in), `.error`
    /// once and for good.
    public mutating func next() -> HTTPParserEvent? {
        switch state {
        case .failed(let error):
            return .error(error)
        case .head:
            return parseHead()
        case .body(let parsed):
            return parseBody(parsed)
        }
    }

    private mutating func fail(_ error: HTTPParseError) -> HTTPParserEvent {
        state = .failed(error)
        buffer = []
        start = 0
        return .error(error)
    }

    private mutating func parseHead() -> HTTPParserEvent? {
        // RFC 9112 §2.2: ignore empty lines (CRLF) before the request-line; a bare LF is an error.
        var skipped = false
        while start + 1 < buffer.count, buffer[start] == HTTPSyntax.cr, buffer[start + 1] == HTTPSyntax.lf {
            start += 2
            skipped = true
        }
        if skipped { scanner = HeadScanner() }
        switch scanner.scan(buffer, from: start, limits: limits) {
        case .needMore:
            compactIfIdle()
            return nil
        case .failure(let error):
            return fail(error)
        case .complete(let fieldsEnd, let end):
            let parsed = HeadParser.parse(buffer[start..<fieldsEnd], limits: limits, storage: &spareHeaders)
            start = end
            scanner = HeadScanner()
            switch consume parsed {  // moved, not copied: the head's six references
            case .failure(let error):
                return fail(error)
            case .head(let parsed):
                chunked = ChunkedDecoder()
                if parsed.head.expectsContinue {
                    state = .body(parsed)
                    return .head(parsed.head)
                }
                // Most requests are complete in the bytes at hand: no detour through `state`.
                return parseBody(parsed)
            }
        }
    }

    private mutating func parseBody(_ parsed: consuming ParsedHead) -> HTTPParserEvent? {
        switch parsed.mode {
        case .none:
            // Taken out, not copied: a copy of the head went through its value witness.
            let head = (consume parsed).head
            return complete(HTTPRequest(head: head))
        case .length(let length):
            guard buffer.count - start >= length else { return waitForBody(parsed) }
            let body = Array(buffer[start..<(start + length)])
            start += length
            let head = (consume parsed).head
            return complete(HTTPRequest(head: head, body: body))
        case .chunked:
            switch chunked.decode(buffer, from: &start, limits: limits) {
            case .needMore:
                compactConsumed()
                return waitForBody(parsed)
            case .failure(let error):
                return fail(error)
            case .done(let body):
                return complete(HTTPRequest(head: parsed.head, body: body))
            }
        }
    }

    private mutating func waitForBody(_ parsed: ParsedHead) -> HTTPParserEvent? {
        if case .head = state { state = .body(parsed) }
        return nil
    }

    private mutating func complete(_ request: HTTPRequest) -> HTTPParserEvent {
        state = .head
        compactIfIdle()
        return .request(request)
    }

    /// Hands an answered request back: its field storage holds the next request's fields,
    /// so a keep-alive connection does not allocate them again. Only when the caller kept no
    /// copy, and only a small one.
    public mutating func recycle(_ request: consuming HTTPRequest) {
        let headers = request.head.headers
        if headers.isSmall { spareHeaders = headers }
    }

    /// Idle connections hold no buffer capacity.
    private mutating func compactIfIdle() {
        if start == buffer.count {
            // Keep a small buffer for the next request of a keep-alive connection; drop big ones.
            if buffer.capacity > 4096 { buffer = [] } else { buffer.removeAll(keepingCapacity: true) }
            start = 0
        } else if start > 65536 {
            compactConsumed()
        }
    }

    private mutating func compactConsumed() {
        guard start > 0 else { return }
        buffer.removeFirst(start)
        start = 0
    }
}
