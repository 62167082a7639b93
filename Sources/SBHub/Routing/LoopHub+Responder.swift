import SBCore
import Logging
import CoreMetrics
import SBHTTP
import SBServer
import SBEventLoop
import SBStore

extension LoopHub: HTTPResponder {
    func respond(to request: HTTPRequest, context: RequestContext, _ respond: @escaping (HTTPResponse) -> Void) {
        let started = MonotonicClock.now()
        let origin = request.head.headers["origin"]
        let client = hub.policy.clientAddress(head: request.head, peer: context.peer)
        let finish: (HTTPResponse, String) -> Void = { [hub, instruments] response, label in
            var response = response
            hub!.policy.addCORSHeaders(to: &response, origin: origin)
            hub!.metrics.recordRequest(route: label, method: HubMetrics.methodLabel(request.head.method), status: response.status,
                                       startedAt: started, cache: instruments)
            // Path only: the query string may carry ?apiKey=, which must never reach a log.
            if hub!.logger.logLevel <= .debug {
                hub!.logger.debug("request", metadata: ["method": "\(request.head.method.name)", "path": "\(request.head.path)",
                                                        "status": "\(response.status)", "client": "\(client)",
                                                        "micros": "\((MonotonicClock.now() &- started) / 1000)"])
            }
            respond(response)
        }
        if request.head.method == .options {
            finish(hub.policy.preflight(request.head), "preflight")
            return
        }
        switch Route.match(method: request.head.method, path: request.head.path) {
        case .notFound:
            finish(Reply.error(.notFound("no route for \(request.head.method.name) \(request.head.path)")), "unmatched")
        case .methodNotAllowed(let allow):
            var error = HubError(status: 405, message: "method \(request.head.method.name) not allowed on \(request.head.path)")
            error.headers = [("Allow", allow.joined(separator: ", "))]
            finish(Reply.error(error), "unmatched")
        case .route(let route):
            let access: Access
            switch hub.policy.check(route: route, head: request.head, client: client) {
            case .failure(let denied):
                finish(Reply.error(denied), route.metricLabel)
                return
            case .success(let found): access = found
            }
            if let denied = RouteAccess.check(route, access) {
                finish(Reply.error(denied), route.metricLabel)
                return
            }
            handle(route, request, access) { finish($0, route.metricLabel) }
        }
    }

    func upgrade(_ head: HTTPRequestHead, context: RequestContext) -> UpgradeDecision {
        switch Route.match(method: head.method, path: head.path) {
        case .route(.webSocket):
            if hub.isDraining {
                return .reject(Reply.error(HubError(status: 503, message: "server is shutting down", headers: [("Retry-After", "1")])))
            }
            let access: Access
            switch hub.policy.checkUpgrade(head) {
            case .failure(let denied): return .reject(Reply.error(denied))
            case .success(let found): access = found
            }
            return .accept(HubClient(loopHub: self, access: access),
                           maxMessageBytes: hub.configuration.maxMessageBytes)
        case .route(.echo):
            return .accept(EchoHandler(), maxMessageBytes: max(hub.configuration.maxMessageBytes, 16 << 20))
        default:
            return .reject(Reply.error(.notFound("no WebSocket endpoint at \(head.path)")))
        }
    }

    private func handle(_ route: Route, _ request: HTTPRequest, _ access: Access, _ done: @escaping (HTTPResponse) -> Void) {
        switch route {
        case .health: done(SystemAPI.health(hub))
        case .ready: done(SystemAPI.ready(hub, store: store))
        case .metrics: done(SystemAPI.metrics(hub))
        case .postEvents: EventsAPI.post(request, store: store, access: access, onStored: { [hub] stored, duplicates in
            hub!.metrics.eventsAccepted.increment(by: stored)
            if duplicates > 0 { hub!.metrics.duplicatePublishes.increment(by: duplicates) }
        }, done)
        case .getEvents(let id): EventsAPI.list(request, sessionId: id, store: store, done)
        case .recentEvents(let id): EventsAPI.recent(request, sessionId: id, store: store, done)
        case .listSessions: SessionsAPI.list(store: store, access: access, done)
        case .createSession: SessionsAPI.create(request, store: store, access: access, done)
        case .getSession(let id): SessionsAPI.get(id: id, store: store, done)
        case .updateSession(let id): SessionsAPI.update(request, id: id, store: store, done)
        case .deleteSession(let id): SessionsAPI.delete(id: id, store: store, done)
        case .listChains(let id): SessionsAPI.listChains(sessionId: id, store: store, done)
        case .addChain(let id): SessionsAPI.addChain(request, sessionId: id, store: store, done)
        case .getChain(let id): SessionsAPI.getChain(id: id, store: store, access: access, done)
        case .postInput(let id): QueueAPI.postInput(request, sessionId: id, store: store, done)
        case .drainInput(let id): QueueAPI.drain(.input, sessionId: id, store: store, done)
        case .postCommand(let id): QueueAPI.postCommand(request, sessionId: id, store: store, done)
        case .drainCommands(let id): QueueAPI.drain(.commands, sessionId: id, store: store, done)
        case .ackCommand(let id): QueueAPI.ack(request, commandId: id, store: store, done)
        case .mintToken: TokensAPI.mint(request, settings: hub.configuration.tokens, keyConfigured: hub.configuration.apiKey != nil, done)
        case .webSocket, .echo:
            var error = HubError(status: 426, message: "this endpoint needs a WebSocket upgrade")
            error.headers = [("Upgrade", "websocket"), ("Sec-WebSocket-Version", "13")]
            done(Reply.error(error))
        }
    }
}
