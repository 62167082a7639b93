import SBHTTP

/// The REST surface as data: matching a path gives the route and its ids, or the methods the
/// path does allow (405), or nothing (404).
enum Route {
    case health, ready, metrics
    case postEvents
    case getEvents(sessionId: String)
    case recentEvents(sessionId: String)
    case listSessions, createSession
    case getSession(id: String), updateSession(id: String), deleteSession(id: String)
    case listChains(sessionId: String), addChain(sessionId: String)
    case getChain(id: String)
    case postInput(sessionId: String), drainInput(sessionId: String)
    case postCommand(sessionId: String), drainCommands(sessionId: String)
    case ackCommand(id: String)
    case mintToken
    case webSocket, echo

    enum Match {
        case route(Route)
        case methodNotAllowed(allow: [String])
        case notFound
    }

    static func match(method: HTTPMethod, path: String) -> Match {
        // Split as bytes: splitting a String by Character walks grapheme clusters.
        let parts = path.utf8.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: true).map { String(decoding: $0, as: UTF8.self) }
        let table = candidates(parts)
        guard !table.isEmpty else { return .notFound }
        // HEAD is served as GET without a body.
        let effective = method == .head ? HTTPMethod.get : method
        if let hit = table.first(where: { $0.method == effective }) { return .route(hit.route) }
        var allow = table.map(\.method.name)
        if allow.contains("GET") { allow.append("HEAD") }
        allow.append("OPTIONS")
        return .methodNotAllowed(allow: allow)
    }

    private static func candidates(_ p: [String]) -> [(method: HTTPMethod, route: Route)] {
        switch p.count {
        case 1:
            switch p[0] {
            case "health": return [(.get, .health)]
            case "ready": return [(.get, .ready)]
            case "metrics": return [(.get, .metrics)]
            case "ws": return [(.get, .webSocket)]
            case "echo": return [(.get, .echo)]
            default: return []
            }
        case 2 where p[0] == "api":
            switch p[1] {
            case "events": return [(.post, .postEvents)]
            case "sessions": return [(.get, .listSessions), (.post, .createSession)]
            case "tokens": return [(.post, .mintToken)]
            default: return []
            }
        case 3 where p[0] == "api":
            switch p[1] {
            case "events": return [(.get, .getEvents(sessionId: p[2]))]
            case "sessions": return [(.get, .getSession(id: p[2])), (.put, .updateSession(id: p[2])), (.delete, .deleteSession(id: p[2]))]
            case "chains": return [(.get, .getChain(id: p[2]))]
            default: return []
            }
        case 4 where p[0] == "api":
            switch (p[1], p[3]) {
            case ("events", "recent"): return [(.get, .recentEvents(sessionId: p[2]))]
            case ("sessions", "chains"): return [(.get, .listChains(sessionId: p[2])), (.post, .addChain(sessionId: p[2]))]
            case ("sessions", "input"): return [(.get, .drainInput(sessionId: p[2])), (.post, .postInput(sessionId: p[2]))]
            case ("sessions", "commands"): return [(.get, .drainCommands(sessionId: p[2])), (.post, .postCommand(sessionId: p[2]))]
            case ("commands", "ack"): return [(.post, .ackCommand(id: p[2]))]
            default: return []
            }
        default:
            return []
        }
    }

    /// Routes that change state: these count against the REST write rate limit.
    var isWrite: Bool {
        switch self {
        case .postEvents, .createSession, .updateSession, .deleteSession, .addChain, .postInput, .postCommand, .ackCommand, .mintToken:
            true
        default:
            false
        }
    }

    /// Label for metrics: the route's shape, never its ids.
    var metricLabel: String {
        switch self {
        case .health: "/health"
        case .ready: "/ready"
        case .metrics: "/metrics"
        case .postEvents: "/api/events"
        case .getEvents: "/api/events/:sessionId"
        case .recentEvents: "/api/events/:sessionId/recent"
        case .listSessions, .createSession: "/api/sessions"
        case .getSession, .updateSession, .deleteSession: "/api/sessions/:id"
        case .listChains, .addChain: "/api/sessions/:id/chains"
        case .getChain: "/api/chains/:chainId"
        case .postInput, .drainInput: "/api/sessions/:id/input"
        case .postCommand, .drainCommands: "/api/sessions/:id/commands"
        case .ackCommand: "/api/commands/:commandId/ack"
        case .mintToken: "/api/tokens"
        case .webSocket: "/ws"
        case .echo: "/echo"
        }
    }
}
