import SBCore
import Synchronization
import SBEventLoop
import SBHTTP
import SBWebSocket

/// A connection's HTTP/1.1 phase: the request parser and the connection machine. Replaced by a
/// `WebSocketDriver` on upgrade and by a `StreamDriver` when a response streams.
final class HTTPDriver {
    var parser: HTTPRequestParser
    var machine: HTTPConnectionStateMachine
    /// `processHTTP` is running (a response given synchronously must not start a second pass).
    var processing = false
    /// Still the connection's driver: false once an upgrade, a stream or `close` replaced it.
    /// Read where the connection's `driver` was matched before: that copied the whole enum.
    var isCurrent = true

    init(parser: HTTPRequestParser, machine: HTTPConnectionStateMachine) {
        self.parser = parser
        self.machine = machine
    }
}

extension Connection {
    func httpReceived(_ bytes: UnsafeRawBufferPointer, _ http: HTTPDriver) {
        if http.machine.isLingering { return }  // our side is done: discard
        http.parser.feed(bytes)
        processHTTP(http)
    }

    /// Runs parsed requests one at a time, as the state machine allows: the next pipelined
    /// request is only looked at after the current one has its response (responses leave in
    /// request order), never after a `Connection: close` one, and not while the send queue is
    /// over its limit.
    func processHTTP(_ http: HTTPDriver) {
        guard !http.processing else { return }
        http.processing = true
        defer { http.processing = false }
        while !closed, http.isCurrent, http.machine.mayParse {
            guard let event = http.parser.next() else {
                performHTTP(http.machine.inputNeeded(midRequest: !http.parser.isIdle, now: loop.now))
                break
            }
            // Consumed, not copied: the request's field storage must be unique again when it
            // goes back to the parser (`recycle`).
            switch consume event {
            case .head(let head):
                performHTTP(http.machine.headReceived(expectsContinue: head.expectsContinue && !head.isWebSocketUpgrade))
            case .request(let request):
                let action = http.machine.requestReceived(keepAlive: request.head.keepAlive)
                guard action == .dispatch else { performHTTP(action); continue }
                if request.head.isWebSocketUpgrade {
                    upgrade(request.head, http)
                } else {
                    dispatch(request)
                    http.parser.recycle(consume request)
                }
            case .error(let error):
                performHTTP(http.machine.requestFailed(status: error.status, message: error.message, now: loop.now))
            }
        }
        // Responses queued by this pass count against the send queue limit at once.
        if http.isCurrent { httpQueueChanged(http) } else { queueChanged() }
    }

    /// `queueChanged` for the HTTP driver at hand.
    func httpQueueChanged(_ http: HTTPDriver) {
        performHTTP(http.machine.queueChanged(bytes: writeQueue.byteCount, now: loop.now))
    }

    /// Does what the HTTP state machine decided, whichever driver holds it: this one, or the
    /// stream's once a response streams. `.dispatch`, `.writeResponse`, `.writeStreamHead`
    /// and `.send` are performed by the caller, which holds the request, response or bytes.
    func performHTTP(_ action: HTTPConnectionStateMachine.Action?) {
        guard !closed, let action else { return }
        switch action {
        case .nothing, .dispatch, .writeResponse, .writeStreamHead, .send:
            break
        case .sendContinue:
            enqueue(Array("HTTP/1.1 100 Continue\r\n\r\n".utf8))
        case .writeError(let status, let message):
            enqueue(Self.errorResponse(status: status, message: message))
        case .parseNext:
            if case .http(let http) = driver { processHTTP(http) }
        case .flush:
            server.scheduleFlush(self)
        case .shutdownWrite:
            shutdownOutput()
        case .close:
            close()
        case .sendHeartbeat:
            if case .stream(let stream) = driver { stream.handler.heartbeat(self) }
        case .notifyDrained:
            scheduleDrainNotification()
        case .cutOff:
            countCutOff(kind: "sse")
            writeQueue.removeAll()
            close()
        }
    }

    private func dispatch(_ request: HTTPRequest) {
        let isHead = request.head.method == .head
        switch server.responder.respond(to: request, context: RequestContext(peer: peer, connection: self, isHead: isHead)) {
        case .now(let response): finishResponse(response, isHead: isHead)
        case .later: break
        }
    }

    func finishResponse(_ response: HTTPResponse, isHead: Bool, forceClose: Bool = false) {
        guard !closed, case .http(let http) = driver else { return }
        let action = http.machine.responseReady(now: loop.now, forceClose: forceClose)
        guard case .writeResponse(let keepAlive) = action else { return performHTTP(action) }
        var bytes = writeQueue.takeBuffer()
        HTTPResponseEncoder.encode(response, keepAlive: keepAlive, headRequest: isHead,
                                   extraHeaderLines: tls == nil ? [] : server.hstsHeaderLine, into: &bytes)
        // Consumed: the queue's copy must be the only one once written, so that its storage
        // comes back for the next response (`WriteQueue.takeBuffer`).
        if http.parser.hasBufferedBytes {
            // Pipelined requests behind it: their responses go out together, in one write
            // before the loop sleeps; over the queue limit, the next one waits for the drain.
            enqueue(consume bytes)
            httpQueueChanged(http)
            if keepAlive { processHTTP(http) }
            if !closed, !http.parser.hasBufferedBytes { flush() }
            syncInterest()
            return
        }
        // Nothing pipelined: written now instead of queueing behind this iteration's broadcast
        // writes, so publishers get their answers (and send the next event) sooner. `flush`
        // tells the machine what is left and syncs epoll; what the socket did not take waits
        // for EPOLLOUT, so no before-sleep flush is scheduled.
        guard !closed else { return }
        writeQueue.append(consume bytes)
        if keepAlive { processHTTP(http) }  // an answer given later: the machine waits for the next request
        flush()
    }

    static func errorResponse(status: Int, message: String) -> [UInt8] {
        var headers: [(String, String)] = [("Content-Type", "application/json; charset=utf-8")]
        if status == 426 { headers.append(("Sec-WebSocket-Version", "13")) }
        let response = HTTPResponse(status: status, headers: headers, body: JSONErrorBody.make(message))
        var bytes: [UInt8] = []
        HTTPResponseEncoder.encode(response, keepAlive: false, into: &bytes)
        return bytes
    }
}
