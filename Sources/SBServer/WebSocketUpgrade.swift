import SBCore
import Synchronization
import SBEventLoop
import SBHTTP
import SBWebSocket

extension Connection {
    /// A WebSocket upgrade request: refused with an HTTP answer, or accepted, and then the
    /// HTTP driver is replaced by a WebSocket one (the parser's leftover bytes are the first
    /// frames).
    func upgrade(_ head: HTTPRequestHead, _ http: HTTPDriver) {
        let validation = WebSocketHandshake.validate(method: head.method.name, versionMinor: head.versionMinor) { head.headers[$0] }
        let accept: String
        switch validation {
        case .failure(.upgradeRequired):
            return refuseUpgrade(status: 426, message: "unsupported WebSocket version (use 13)", http)
        case .failure(.badRequest(let message)):
            return refuseUpgrade(status: 400, message: message, http)
        case .success(let value):
            accept = value
        }
        var agreement: PerMessageDeflate.Agreement?
        if server.configuration.webSocketCompression != nil {
            switch PerMessageDeflate.negotiate(head.headers.values("sec-websocket-extensions")) {
            case .none: break
            case .accepted(let agreed): agreement = agreed
            case .malformed(let message): return refuseUpgrade(status: 400, message: message, http)
            }
        }
        let context = RequestContext(peer: peer, connection: self, isHead: false)
        switch server.responder.upgrade(head, context: context) {
        case .reject(let response):
            finishResponse(response, isHead: false, forceClose: true)
        case .accept(let handler, let maxMessageBytes):
            let leftover = http.parser.takeRemainingBytes()
            enqueue(WebSocketHandshake.response(accept: accept, extensions: agreement?.responseHeaderValue))
            var reader = WebSocketReader(maxMessageBytes: maxMessageBytes, inflates: agreement != nil)
            if !leftover.isEmpty { reader.feed(leftover) }
            http.isCurrent = false
            driver = .webSocket(WebSocketDriver(
                reader: reader, handler: handler,
                machine: WebSocketConnectionStateMachine(configuration: server.webSocketMachineConfiguration, now: loop.now),
                deflateWindowBits: agreement?.serverMaxWindowBits ?? 0))
            writeQueue.releasesWhenDrained = true
            server.counters.openWebSockets.add(1, ordering: .relaxed)
            handler.opened(self)
            processWebSocket()
        }
    }

    private func refuseUpgrade(status: Int, message: String, _ http: HTTPDriver) {
        performHTTP(http.machine.requestFailed(status: status, message: message, now: loop.now))
    }
}
