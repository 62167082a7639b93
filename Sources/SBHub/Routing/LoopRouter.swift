import SBCore
import Synchronization
import Logging
import CoreMetrics
import SBHTTP
import SBServer
import SBEventLoop
import SBStore

/// The hub's HTTP side on one loop: matches each request to its route, checks access, answers
/// it (or opens a stream or a WebSocket onto this loop's `LoopHub`), and records it. Routing
/// only: who is subscribed and what reaches them is `LoopHub`'s. Confined to its loop.
final class LoopRouter: HTTPResponder, @unchecked Sendable {  // confined to `loopHub.loop`
    /// Owns this router (`Hub.routers`) and outlives it.
    unowned let hub: Hub
    let loopHub: LoopHub
    let instruments = HubMetrics.RequestInstruments()
    /// The server once it is attached: read per `/health` without the hub's atomic.
    private var attachedServer: Server?
    var server: Server? {
        if attachedServer == nil { attachedServer = hub.server }
        return attachedServer
    }

    init(hub: Hub, loopHub: LoopHub) {
        self.hub = hub
        self.loopHub = loopHub
    }

    private var store: any Store { loopHub.store }

    func respond(to request: HTTPRequest, context: RequestContext, _ respond: @escaping (HTTPResponse) -> Void) {
        let started = MonotonicClock.now()
        let origin = request.head.headers["origin"]
        let client = hub.policy.clientAddress(head: request.head, peer: context.peer)
        let finish: (HTTPResponse, HubMetrics.RequestLabel) -> Void = { [hub, instruments] response, label in
            var response = response
            hub.policy.addCORSHeaders(to: &response, origin: origin)
            hub.metrics.recordRequest(route: label, method: request.head.method, status: response.status,
                                       startedAt: started, cache: instruments)
            // Path only: the query string may carry ?apiKey=, which must never reach a log.
            if hub.logger.logLevel <= .debug {
                hub.logger.debug("request", metadata: ["method": "\(request.head.method.name)", "path": "\(request.head.path)",
                                                        "status": "\(response.status)", "client": "\(client)",
                                                        "micros": "\((MonotonicClock.now() &- started) / 1000)"])
            }
            respond(response)
        }
        if request.head.method == .options {
            finish(hub.policy.preflight(request.head), .preflight)
            return
        }
        switch Route.match(method: request.head.method, path: request.head.path) {
        case .notFound:
            finish(Reply.error(.notFound("no route for \(request.head.method.name) \(request.head.path)")), .unmatched)
        case .route(.echo) where !hub.configuration.echoEndpoint:
            finish(Reply.error(.notFound("no route for \(request.head.method.name) \(request.head.path)")), .unmatched)
        case .methodNotAllowed(let allow):
            var error = HubError(status: 405, message: "method \(request.head.method.name) not allowed on \(request.head.path)")
            error.headers = [("Allow", allow.joined(separator: ", "))]
            finish(Reply.error(error), .unmatched)
        case .route(let route):
            let access: Access
            switch hub.policy.check(route: route, head: request.head, client: client) {
            case .failure(let denied):
                finish(Reply.error(denied), route.requestLabel)
                return
            case .success(let found): access = found
            }
            if let denied = RouteAccess.check(route, access) {
                finish(Reply.error(denied), route.requestLabel)
                return
            }
            if case .eventStream(let sessionId) = route, request.head.method == .get {
                openStream(request, sessionId: sessionId, access: access, context: context, origin: origin, started: started, finish: finish)
                return
            }
            handle(route, request, access) { finish($0, route.requestLabel) }
        }
    }

    /// `/ws`, and `/echo` when ECHO_ENDPOINT is on, pass the same gate: draining, the key or a
    /// token (with the failure throttle), the Origin allowlist and MAX_MESSAGE_BYTES.
    func upgrade(_ head: HTTPRequestHead, context: RequestContext) -> UpgradeDecision {
        let isEcho: Bool
        switch Route.match(method: head.method, path: head.path) {
        case .route(.webSocket): isEcho = false
        case .route(.echo) where hub.configuration.echoEndpoint: isEcho = true
        default: return .reject(Reply.error(.notFound("no WebSocket endpoint at \(head.path)")))
        }
        if hub.isDraining {
            return .reject(Reply.error(HubError(status: 503, message: "server is shutting down", headers: [("Retry-After", "1")])))
        }
        let access: Access
        switch hub.policy.checkUpgrade(head, client: hub.policy.clientAddress(head: head, peer: context.peer)) {
        case .failure(let denied): return .reject(Reply.error(denied))
        case .success(let found): access = found
        }
        let handler: any WebSocketHandler = isEcho ? EchoHandler() : HubClient(loopHub: loopHub, access: access)
        return .accept(handler, maxMessageBytes: hub.configuration.maxMessageBytes)
    }

    /// Server-Sent Events: checked like any GET, then the connection becomes the stream.
    private func openStream(_ request: HTTPRequest, sessionId: String, access: Access, context: RequestContext, origin: String?,
                            started: UInt64, finish: (HTTPResponse, HubMetrics.RequestLabel) -> Void) {
        let label = HubMetrics.RequestLabel.eventStream
        if hub.isDraining {
            return finish(Reply.error(HubError(status: 503, message: "server is shutting down", headers: [("Retry-After", "1")])), label)
        }
        let start: EventStreamAPI.Start
        switch EventStreamAPI.start(request.head, sessionId: sessionId) {
        case .failure(let error): return finish(Reply.error(error), label)
        case .success(let found): start = found
        }
        var head = HTTPResponse(status: 200, headers: EventStreamAPI.headers)
        hub.policy.addCORSHeaders(to: &head, origin: origin)
        hub.metrics.recordRequest(route: label, method: .get, status: 200, startedAt: started, cache: instruments)
        context.startStream(head, handler: StreamClient(loopHub: loopHub, sessionId: sessionId, lastEventId: start.lastEventId,
                                                        epoch: start.epoch, access: access, wantsPresence: start.presence))
    }

    private func handle(_ route: Route, _ request: HTTPRequest, _ access: Access, _ done: @escaping (HTTPResponse) -> Void) {
        switch route {
        case .health: done(SystemAPI.health(hub, server: server))
        case .ready: done(SystemAPI.ready(hub, store: store))
        case .metrics: done(SystemAPI.metrics(hub))
        case .postEvents: EventsAPI.post(request, store: store, access: access, onStored: { [hub] stored, duplicates in
            hub.metrics.eventsAccepted.increment(by: stored)
            hub.stats.eventsAccepted.add(stored, ordering: .relaxed)
            if duplicates > 0 { hub.metrics.duplicatePublishes.increment(by: duplicates) }
        }, done)
        case .getEvents(let id): EventsAPI.list(request, sessionId: id, store: store, done)
        case .recentEvents(let id): EventsAPI.recent(request, sessionId: id, store: store, done)
        case .eventStream(let id):
            // HEAD: the stream's head alone, no stream.
            switch EventStreamAPI.start(request.head, sessionId: id) {
            case .failure(let error): done(Reply.error(error))
            case .success: done(HTTPResponse(status: 200, headers: EventStreamAPI.headers))
            }
        case .stats: StatsAPI.stats(hub, store: store, done)
        case .asset(let path): done(ConsoleAssets.response(path: path, request: request.head))
        case .listSessions: SessionsAPI.list(store: store, access: access, done)
        case .createSession: SessionsAPI.create(request, store: store, access: access, done)
        case .getSession(let id): SessionsAPI.get(id: id, store: store, done)
        case .updateSession(let id): SessionsAPI.update(request, id: id, store: store, done)
        case .deleteSession(let id): SessionsAPI.delete(id: id, store: store, done)
        case .listChains(let id): SessionsAPI.listChains(sessionId: id, store: store, done)
        case .sessionPresence(let id): SessionsAPI.presence(sessionId: id, loopHub: loopHub, done)
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
