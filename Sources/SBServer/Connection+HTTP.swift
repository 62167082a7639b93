import SBCore
import Synchronization
import SBEventLoop
import SBHTTP
import SBWebSocket

extension Connection {
    /// Runs parsed requests one at a time, as the state machine allows: the next pipelined
    /// request is only looked at after the current one has its response (responses leave in
    /// request order), never after a `Connection: close` one, and not while the send queue is
    /// over its limit.
    func processHTTP() {
        guard !processingHTTP else { return }
        processingHTTP = true
        defer { processingHTTP = false }
        while !closed, case .http(let http) = proto, http.machine.mayParse {
            guard let event = http.parser.next() else {
                performHTTP(http.machine.inputNeeded(midRequest: !http.parser.isIdle, now: MonotonicClock.now()))
                break
            }
            switch event {
            case .head(let head):
                performHTTP(http.machine.headReceived(expectsContinue: head.expectsContinue && !head.isWebSocketUpgrade))
            case .request(let request):
                for action in http.machine.requestReceived(keepAlive: request.head.keepAlive) {
                    guard action == .dispatch else { performHTTP([action]); continue }
                    if request.head.isWebSocketUpgrade { upgrade(request.head) } else { dispatch(request) }
                }
            case .error(let error):
                performHTTP(http.machine.requestFailed(status: error.status, message: error.message, now: MonotonicClock.now()))
            }
        }
        // Responses queued by this pass count against the send queue limit at once.
        queueChanged()
    }

    /// Does what the HTTP state machine decided.
    func performHTTP(_ actions: [HTTPConnectionStateMachine.Action]) {
        for action in actions {
            guard !closed else { return }
            switch action {
            case .sendContinue:
                enqueue(Array("HTTP/1.1 100 Continue\r\n\r\n".utf8))
            case .dispatch, .writeResponse, .writeStreamHead:
                break  // handled where the request or response is at hand
            case .sendHeartbeat, .notifyDrained, .discardQueue, .countCutOff:
                performStream(action)
            case .writeError(let status, let message):
                enqueue(Self.errorResponse(status: status, message: message))
            case .parseNext:
                processHTTP()
            case .pauseReading:
                wantRead = false
            case .resumeReading:
                wantRead = true
            case .flush:
                server.scheduleFlush(self)
            case .shutdownWrite:
                shutdownOutput()
            case .close:
                close()
            }
        }
    }

    private func dispatch(_ request: HTTPRequest) {
        let isHead = request.head.method == .head
        let context = RequestContext(peer: peer, connection: self)
        var answered = false
        server.responder.respond(to: request, context: context) { [weak self] response in
            guard let self, !answered else { return }
            answered = true
            self.finishResponse(response, isHead: isHead)
        }
    }

    func finishResponse(_ response: HTTPResponse, isHead: Bool, forceClose: Bool = false) {
        guard !closed, let http else { return }
        let actions = http.machine.responseReady(now: MonotonicClock.now(), forceClose: forceClose)
        for action in actions {
            if case .writeResponse(let keepAlive) = action {
                var bytes: [UInt8] = []
                HTTPResponseEncoder.encode(response, keepAlive: keepAlive, headRequest: isHead,
                                           extraHeaderLines: tls == nil ? [] : server.hstsHeaderLine, into: &bytes)
                enqueue(bytes)
                queueChanged()  // over the limit, the next pipelined request waits for the drain
            } else {
                performHTTP([action])
            }
        }
        // Write first: when nothing more is pipelined behind it, the response leaves now
        // instead of queueing behind this iteration's broadcast writes, so publishers get their
        // answers (and send the next event) sooner. Pipelined responses still go out together.
        if !closed, !http.parser.hasBufferedBytes {
            flush()
        }
        syncInterest()
    }

    static func errorResponse(status: Int, message: String) -> [UInt8] {
        var headers: [(String, String)] = [("Content-Type", "application/json; charset=utf-8")]
        if status == 426 { headers.append(("Sec-WebSocket-Version", "13")) }
        let response = HTTPResponse(status: status, headers: headers, body: JSONErrorBody.make(message))
        var bytes: [UInt8] = []
        HTTPResponseEncoder.encode(response, keepAlive: false, into: &bytes)
        return bytes
    }

    private func upgrade(_ head: HTTPRequestHead) {
        let validation = WebSocketHandshake.validate(method: head.method.name, versionMinor: head.versionMinor) { head.headers[$0] }
        guard let http else { return }
        let accept: String
        switch validation {
        case .failure(.upgradeRequired):
            performHTTP(http.machine.requestFailed(status: 426, message: "unsupported WebSocket version (use 13)", now: MonotonicClock.now()))
            return
        case .failure(.badRequest(let message)):
            performHTTP(http.machine.requestFailed(status: 400, message: message, now: MonotonicClock.now()))
            return
        case .success(let value):
            accept = value
        }
        var agreement: PerMessageDeflate.Agreement?
        if server.configuration.webSocketCompression != nil {
            switch PerMessageDeflate.negotiate(head.headers.values("sec-websocket-extensions")) {
            case .none: break
            case .accepted(let agreed): agreement = agreed
            case .malformed(let message):
                performHTTP(http.machine.requestFailed(status: 400, message: message, now: MonotonicClock.now()))
                return
            }
        }
        let context = RequestContext(peer: peer, connection: nil)
        switch server.responder.upgrade(head, context: context) {
        case .reject(let response):
            finishResponse(response, isHead: false, forceClose: true)
        case .accept(let handler, let maxMessageBytes):
            let leftover = http.parser.takeRemainingBytes()
            enqueue(WebSocketHandshake.response(accept: accept, extensions: agreement?.responseHeaderValue))
            deflateWindowBits = agreement?.serverMaxWindowBits ?? 0
            var reader = WebSocketReader(maxMessageBytes: maxMessageBytes, inflates: agreement != nil)
            if !leftover.isEmpty { reader.feed(leftover) }
            ws = WebSocketConnectionStateMachine(configuration: server.webSocketMachineConfiguration, now: MonotonicClock.now())
            proto = .webSocket(handler, reader)
            writeQueue.releasesWhenDrained = true
            wantRead = true
            server.counters.openWebSockets.add(1, ordering: .relaxed)
            handler.opened(self)
            processWebSocket()
        }
    }
}
