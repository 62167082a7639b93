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
    let instruments: HubMetrics.RequestInstruments
    /// The server once it is attached: read per `/health` without the hub's atomic.
    private var attachedServer: Server?
    var server: Server? {
        if attachedServer == nil { attachedServer = hub.server }
        return attachedServer
    }

    /// The hub's parts every request uses, held here: no `unowned` load per use.
    private let policy: HubPolicy
    private let metrics: HubMetrics
    /// LOG_LEVEL is fixed at start: whether each request is logged, decided once.
    private let logsRequests: Bool

    init(hub: Hub, loopHub: LoopHub) {
        self.hub = hub
        self.loopHub = loopHub
        policy = hub.policy
        metrics = hub.metrics
        instruments = hub.metrics.makeRequestInstruments()
        logsRequests = hub.logger.logLevel <= .debug
    }

    private var store: any Store { loopHub.store }

    func respond(to request: HTTPRequest, context: RequestContext) -> HTTPAnswer {
        let head = request.head
        var exchange = Exchange(head, client: policy.clientAddress(head: head, peer: context.peer), started: loopHub.loop.now)
        if head.method == .options {
            exchange.label = .preflight
            return .now(finish(policy.preflight(head), exchange))
        }
        switch Route.match(method: head.method, path: head.path) {
        case .notFound:
            return .now(finish(Reply.error(.notFound("no route for \(head.method.name) \(head.path)")), exchange))
        case .route(.echo) where !hub.configuration.echoEndpoint:
            return .now(finish(Reply.error(.notFound("no route for \(head.method.name) \(head.path)")), exchange))
        case .methodNotAllowed(let allow):
            var error = HubError(status: 405, message: "method \(head.method.name) not allowed on \(head.path)")
            error.headers = [("Allow", allow.joined(separator: ", "))]
            return .now(finish(Reply.error(error), exchange))
        case .route(let route):
            exchange.label = route.requestLabel
            let access: Access
            switch policy.check(route: route, head: head, client: exchange.client) {
            case .denied(let denied): return .now(finish(Reply.error(denied), exchange))
            case .allowed(let found): access = found
            }
            if let denied = RouteAccess.check(route, access) {
                return .now(finish(Reply.error(denied), exchange))
            }
            if case .eventStream(let sessionId) = route, head.method == .get {
                if let refused = openStream(request, sessionId: sessionId, access: access, context: context, exchange: exchange) {
                    return .now(finish(refused, exchange))
                }
                return .later
            }
            if let response = answerNow(route, request) {
                return .now(finish(response, exchange))
            }
            let waiting = Waiting(router: self, exchange: exchange, pending: context.later())
            handle(route, request, access) { waiting.send($0) }
            return .later
        }
    }

    /// The request's facts an answer needs on its way out (`finish`).
    private struct Exchange {
        let method: HTTPMethod
        let path: String
        let origin: String?
        let client: String
        let started: UInt64
        var label = HubMetrics.RequestLabel.unmatched

        /// `started`: when the loop noticed the request's bytes (`EventLoop.now`).
        init(_ head: HTTPRequestHead, client: String, started: UInt64) {
            method = head.method
            path = head.path
            origin = head.headers.firstValue(HeaderName.origin).map { String(decoding: $0, as: UTF8.self) }
            self.client = client
            self.started = started
        }
    }

    /// An answer that waits for the store, with what `finish` needs: held once by reference.
    /// Captured as a value, the exchange was copied at every completion the route's code
    /// forms (14 copies per POST once the closure was specialized into `handle`).
    private final class Waiting {
        let router: LoopRouter
        let exchange: Exchange
        let pending: PendingResponse

        init(router: LoopRouter, exchange: Exchange, pending: PendingResponse) {
            self.router = router
            self.exchange = exchange
            self.pending = pending
        }

        func send(_ response: HTTPResponse) {
            pending.send(router.finish(response, exchange))
        }
    }

    /// What every answer gets on its way out: CORS headers, the request metrics and the debug
    /// log line. Returns it (`.now` / `send` take it as it is).
    private func finish(_ response: consuming HTTPResponse, _ exchange: borrowing Exchange) -> HTTPResponse {
        if let origin = exchange.origin { policy.addCORSHeaders(to: &response, origin: origin) }
        metrics.recordRequest(route: exchange.label, method: exchange.method, status: response.status,
                              startedAt: exchange.started, cache: instruments)
        // Path only: the query string may carry ?apiKey=, which must never reach a log.
        if logsRequests {
            hub.logger.debug("request", metadata: ["method": "\(exchange.method.name)", "path": "\(exchange.path)",
                                                    "status": "\(response.status)", "client": "\(exchange.client)",
                                                    "micros": "\((MonotonicClock.now() &- exchange.started) / 1000)"])
        }
        return response
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

    /// Server-Sent Events: checked like any GET, then the connection becomes the stream; the
    /// refusal when it cannot.
    private func openStream(_ request: HTTPRequest, sessionId: String, access: Access, context: RequestContext,
                            exchange: Exchange) -> HTTPResponse? {
        if hub.isDraining {
            return Reply.error(HubError(status: 503, message: "server is shutting down", headers: [("Retry-After", "1")]))
        }
        let start: EventStreamAPI.Start
        switch EventStreamAPI.start(request.head, sessionId: sessionId) {
        case .failure(let error): return Reply.error(error)
        case .success(let found): start = found
        }
        let head = finish(HTTPResponse(status: 200, headers: EventStreamAPI.headers), exchange)
        context.startStream(head, handler: StreamClient(loopHub: loopHub, sessionId: sessionId, lastEventId: start.lastEventId,
                                                        epoch: start.epoch, access: access, wantsPresence: start.presence))
        return nil
    }

    /// `/health` as last answered, with what it was made of: a load balancer asks many times
    /// a second and the members change about once a second (the uptime), so most answers are
    /// this one again.
    /// A struct, not an optional tuple: the tuple was copied through runtime metadata per request.
    private var lastHealth: HealthMemo?

    private struct HealthMemo {
        let members: InstanceStatus.Members
        let response: HTTPResponse
    }

    private func health() -> HTTPResponse {
        let status = InstanceStatus(hub, server: server)
        if let lastHealth, lastHealth.members == status.members { return lastHealth.response }
        let response = SystemAPI.health(hub, status: status)
        lastHealth = HealthMemo(members: status.members, response: response)
        return response
    }

    /// The routes that answer without a store round trip.
    private func answerNow(_ route: Route, _ request: HTTPRequest) -> HTTPResponse? {
        switch route {
        case .health: health()
        case .ready: SystemAPI.ready(hub, store: store)
        case .metrics: SystemAPI.metrics(hub)
        case .asset(let path): ConsoleAssets.response(path: path, request: request.head)
        case .eventStream(let id):
            // HEAD: the stream's head alone, no stream.
            switch EventStreamAPI.start(request.head, sessionId: id) {
            case .failure(let error): Reply.error(error)
            case .success: HTTPResponse(status: 200, headers: EventStreamAPI.headers)
            }
        case .webSocket, .echo:
            Reply.error(HubError(status: 426, message: "this endpoint needs a WebSocket upgrade",
                                 headers: [("Upgrade", "websocket"), ("Sec-WebSocket-Version", "13")]))
        default: nil
        }
    }

    private func handle(_ route: Route, _ request: HTTPRequest, _ access: Access, _ done: @escaping (HTTPResponse) -> Void) {
        switch route {
        case .postEvents: EventsAPI.post(request, store: store, access: access, onStored: { [hub] stored, duplicates in
            hub.metrics.eventsAccepted.increment(by: stored)
            hub.stats.eventsAccepted.add(stored, ordering: .relaxed)
            if duplicates > 0 { hub.metrics.duplicatePublishes.increment(by: duplicates) }
        }, done)
        case .getEvents(let id): EventsAPI.list(request, sessionId: id, store: store, done)
        case .recentEvents(let id): EventsAPI.recent(request, sessionId: id, store: store, done)
        case .stats: StatsAPI.stats(hub, store: store, done)
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
        case .health, .ready, .metrics, .asset, .eventStream, .webSocket, .echo:
            // `respond` answers these through `answerNow` before it gets here; the switch
            // stays exhaustive so a new route cannot be forgotten in both.
            done(answerNow(route, request) ?? Reply.error(.notFound("no route for \(request.head.method.name) \(request.head.path)")))
        }
    }
}
