/// The route → scope table for tokens (README, "Access"). The key passes every row.
enum RouteAccess: Equatable {
    /// No credential needed (/health, /ready, the console's static files).
    case open
    /// The API key only: tokens get 403 (/metrics, /api/tokens, command acks).
    case keyOnly
    /// The scope on the session named in the path, checked before the handler runs.
    case session(String, Scope)
    /// The scope on sessions the handler finds in the body or the store (each event of a
    /// batch, the id of a new session, a chain's session, the listing filter).
    case inHandler(Scope)
    /// Any valid credential (the WebSocket upgrade: each message is checked on its own;
    /// `/api/stats`: instance counters, no session data).
    case authenticated

    static func of(_ route: Route) -> RouteAccess {
        switch route {
        case .health, .ready, .asset: .open
        case .metrics, .mintToken, .ackCommand: .keyOnly
        case .getEvents(let id), .recentEvents(let id), .getSession(let id), .listChains(let id), .sessionPresence(let id): .session(id, .read)
        case .eventStream(let id): .session(id, .subscribe)
        case .updateSession(let id), .deleteSession(let id), .addChain(let id): .session(id, .publish)
        case .postInput(let id), .drainInput(let id): .session(id, .input)
        case .postCommand(let id), .drainCommands(let id): .session(id, .command)
        case .postEvents, .createSession: .inHandler(.publish)
        case .listSessions, .getChain: .inHandler(.read)
        case .webSocket, .echo, .stats: .authenticated
        }
    }

    /// nil when `access` may go on to the handler.
    static func check(_ route: Route, _ access: Access) -> HubError? {
        guard case .token = access else { return nil }
        switch of(route) {
        case .open, .authenticated, .inHandler: return nil
        case .keyOnly: return .forbidden("\(route.metricLabel) needs the API key; a token does not grant it")
        case .session(let id, let scope): return access.check(scope, on: id)
        }
    }
}
