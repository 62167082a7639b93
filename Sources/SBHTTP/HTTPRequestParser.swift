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
        case body(HTTPRequestHead, BodyMode)
        case failed(HTTPParseError)
    }

    let limits: HTTPLimits
    var buffer: [UInt8] = []
    /// Start of the unconsumed bytes in `buffer`.
    var start = 0
    /// Where the search for the end of the head resumes (no rescanning on byte-at-a-time input).
    var scanFrom = 0
    var state: State = .head
    var headEmitted = false
    var chunked = ChunkedDecoder()

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
        scanFrom = 0
        return rest
    }

    public mutating func next() -> HTTPParserEvent? {
        switch state {
        case .failed(let error):
            return .error(error)
        case .head:
            return parseHead()
        case .body(let head, let mode):
            if !headEmitted {
                headEmitted = true
                return .head(head)
            }
            return parseBody(head, mode)
        }
    }

    private mutating func fail(_ error: HTTPParseError) -> HTTPParserEvent {
        state = .failed(error)
        buffer = []
        start = 0
        return .error(error)
    }

    private mutating func parseHead() -> HTTPParserEvent? {
        // RFC 9112 §2.2: ignore empty lines before the request-line.
        while start + 1 < buffer.count, buffer[start] == 13, buffer[start + 1] == 10 { start += 2 }
        while start < buffer.count, buffer[start] == 10 { start += 1 }
        if scanFrom < start { scanFrom = start }
        guard let end = findHeadEnd() else {
            if buffer[start...].firstIndex(of: 10) == nil, buffer.count - start > limits.maxTargetBytes + 32 {
                return fail(HTTPParseError(status: 414, message: "request target longer than \(limits.maxTargetBytes) bytes"))
            }
            if buffer.count - start > limits.maxHeadBytes {
                return fail(HTTPParseError(status: 431, message: "request head larger than \(limits.maxHeadBytes) bytes"))
            }
            compactIfIdle()
            return nil
        }
        if end - start > limits.maxHeadBytes {
            return fail(HTTPParseError(status: 431, message: "request head larger than \(limits.maxHeadBytes) bytes"))
        }
        let parsed = HeadParser.parse(buffer[start..<end], limits: limits)
        start = end + 4
        scanFrom = start
        switch parsed {
        case .failure(let error):
            return fail(error)
        case .success(let (head, mode)):
            state = .body(head, mode)
            headEmitted = true
            chunked = ChunkedDecoder()
            return .head(head)
        }
    }

    /// Index of the CR of the first CRLFCRLF at or after `scanFrom`.
    private mutating func findHeadEnd() -> Int? {
        var i = max(scanFrom, start)
        let count = buffer.count
        while i + 3 < count {
            if buffer[i + 3] != 10 { i += buffer[i + 3] == 13 ? 1 : 4; continue }
            if buffer[i] == 13, buffer[i + 1] == 10, buffer[i + 2] == 13 { return i }
            i += 1
        }
        scanFrom = max(start, count - 3)
        return nil
    }

    private mutating func parseBody(_ head: HTTPRequestHead, _ mode: BodyMode) -> HTTPParserEvent? {
        switch mode {
        case .none:
            return complete(HTTPRequest(head: head))
        case .length(let length):
            guard buffer.count - start >= length else { return nil }
            let body = Array(buffer[start..<(start + length)])
            start += length
            return complete(HTTPRequest(head: head, body: body))
        case .chunked:
            switch chunked.decode(buffer, from: &start, limits: limits) {
            case .needMore:
                compactConsumed()
                return nil
            case .failure(let error):
                return fail(error)
            case .done(let body):
                return complete(HTTPRequest(head: head, body: body))
            }
        }
    }

    private mutating func complete(_ request: HTTPRequest) -> HTTPParserEvent {
        state = .head
        headEmitted = false
        scanFrom = start
        compactIfIdle()
        return .request(request)
    }

    /// Idle connections hold no buffer capacity.
    private mutating func compactIfIdle() {
        if start == buffer.count {
            // Keep a small buffer for the next request of a keep-alive connection; drop big ones.
            if buffer.capacity > 4096 { buffer = [] } else { buffer.removeAll(keepingCapacity: true) }
            start = 0
            scanFrom = 0
        } else if start > 65536 {
            compactConsumed()
        }
    }

    private mutating func compactConsumed() {
        guard start > 0 else { return }
        buffer.removeFirst(start)
        scanFrom = max(0, scanFrom - start)
        start = 0
    }
}
