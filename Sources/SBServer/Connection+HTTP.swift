import SBCore
import Synchronization
import SBEventLoop
import SBHTTP
import SBWebSocket

extension Connection {
    /// Runs parsed requests one at a time: the next pipelined request is only looked at after
    /// the current one has its response, so responses leave in request order.
    func processHTTP() {
        guard !processingHTTP else { return }
        processingHTTP = true
        defer { processingHTTP = false }
        while !closed, !awaitingResponse, case .http(var parser) = proto {
            proto = .lingering
            let event = parser.next()
            proto = .http(parser)
            guard let event else { break }
            switch event {
            case .head(let head):
                if head.expectsContinue && !head.isWebSocketUpgrade {
                    enqueue(Array("HTTP/1.1 100 Continue\r\n\r\n".utf8))
                }
            case .request(let request):
                requestStartedAt = MonotonicClock.now()
                if request.head.isWebSocketUpgrade {
                    upgrade(request.head)
                    return
                }
                dispatch(request)
            case .error(let error):
                respondWithError(status: error.status, message: error.message)
                return
            }
        }
        // Too much unanswered data queued for a client that does not read its responses:
        // stop reading until it catches up.
        if writeQueue.byteCount > server.configuration.sendQueueBytes {
            pauseReading()
        }
    }

    private func dispatch(_ request: HTTPRequest) {
        awaitingResponse = true
        let keepAlive = request.head.keepAlive
        let isHead = request.head.method == .head
        let context = RequestContext(peer: peer, loop: loop, connectionID: id)
        var answered = false
        server.responder.respond(to: request, context: context) { [weak self] response in
            guard let self, !answered else { return }
            answered = true
            self.finishResponse(response, keepAlive: keepAlive, isHead: isHead)
        }
        // Only an asynchronous answer (Redis) needs reads paused meanwhile; a synchronous one
        // has already been queued, and pausing would cost two epoll_ctl calls per request.
        if !answered { pauseReading() }
    }

    private func finishResponse(_ response: HTTPResponse, keepAlive: Bool, isHead: Bool) {
        guard !closed else { return }
        awaitingResponse = false
        let keep = keepAlive && !server.draining
        var bytes: [UInt8] = []
        HTTPResponseEncoder.encode(response, keepAlive: keep, headRequest: isHead, into: &bytes)
        enqueue(bytes)
        lastActivity = MonotonicClock.now()
        if !keep {
            closeAfterFlush = true
            return
        }
        resumeReading()
        processHTTP()
        // Write first: when nothing more is pipelined behind it, the response leaves now
        // instead of queueing behind this iteration's broadcast writes, so publishers get their
        // answers (and send the next event) sooner. Pipelined responses still go out together.
        if !closed, !awaitingResponse, case .http(let parser) = proto, !parser.hasBufferedBytes {
            flush()
        }
    }

    /// Answers a parse error or timeout with a JSON error and closes after it is written.
    func respondWithError(status: Int, message: String) {
        var headers: [(String, String)] = [("Content-Type", "application/json; charset=utf-8")]
        if status == 426 { headers.append(("Sec-WebSocket-Version", "13")) }
        let response = HTTPResponse(status: status, headers: headers, body: JSONErrorBody.make(message))
        var bytes: [UInt8] = []
        HTTPResponseEncoder.encode(response, keepAlive: false, into: &bytes)
        awaitingResponse = false
        enqueue(bytes)
        closeAfterFlush = true
        pauseReading()
    }

    private func upgrade(_ head: HTTPRequestHead) {
        let validation = WebSocketHandshake.validate(method: head.method.name, versionMinor: head.versionMinor) { head.headers[$0] }
        let accept: String
        switch validation {
        case .failure(.upgradeRequired):
            respondWithError(status: 426, message: "unsupported WebSocket version (use 13)")
            return
        case .failure(.badRequest(let message)):
            respondWithError(status: 400, message: message)
            return
        case .success(let value):
            accept = value
        }
        let context = RequestContext(peer: peer, loop: loop, connectionID: id)
        switch server.responder.upgrade(head, context: context) {
        case .reject(let response):
            var bytes: [UInt8] = []
            HTTPResponseEncoder.encode(response, keepAlive: false, into: &bytes)
            enqueue(bytes)
            closeAfterFlush = true
            pauseReading()
        case .accept(let handler, let maxMessageBytes):
            guard case .http(var parser) = proto else { return }
            let leftover = parser.takeRemainingBytes()
            enqueue(WebSocketHandshake.response(accept: accept))
            var reader = WebSocketReader(maxMessageBytes: maxMessageBytes)
            if !leftover.isEmpty { reader.feed(leftover) }
            lastHeard = MonotonicClock.now()
            proto = .webSocket(reader, handler)
            server.owner.openWebSockets.add(1, ordering: .relaxed)
            handler.opened(self)
            processWebSocket()
        }
    }
}

/// `{"error":"…"}` with the message JSON-escaped.
public enum JSONErrorBody {
    public static func make(_ message: String) -> [UInt8] {
        var out = Array("{\"error\":".utf8)
        JSONString.append(message, to: &out)
        out.append(UInt8(ascii: "}"))
        return out
    }
}

/// Minimal JSON string escaping for the bytes we write by hand.
public enum JSONString {
    public static func append(_ string: String, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        for byte in string.utf8 {
            switch byte {
            case UInt8(ascii: "\""): out.append(contentsOf: [0x5C, 0x22])
            case UInt8(ascii: "\\"): out.append(contentsOf: [0x5C, 0x5C])
            case 0x0A: out.append(contentsOf: [0x5C, UInt8(ascii: "n")])
            case 0x0D: out.append(contentsOf: [0x5C, UInt8(ascii: "r")])
            case 0x09: out.append(contentsOf: [0x5C, UInt8(ascii: "t")])
            case 0..<0x20:
                let hex = Array("0123456789abcdef".utf8)
                out.append(contentsOf: [0x5C, UInt8(ascii: "u"), 0x30, 0x30, hex[Int(byte >> 4)], hex[Int(byte & 0xF)]])
            default: out.append(byte)
            }
        }
        out.append(UInt8(ascii: "\""))
    }
}
