import SBHTTP

/// The REST surface as data: matching a path gives the route and its ids, or the methods the
/// path does allow (405), or nothing (404).
enum Route {
    case health, ready, metrics
    /// `/api/stats`: the console's overview numbers.
    case stats
    /// The console, the JavaScript client and the OpenAPI document (`ConsoleAssets`).
    case asset(path: String)
    case postEvents
    case getEvents(sessionId: String)
    case recentEvents(sessionId: String)
    case eventStream(sessionId: String)
    case listSessions, createSession
    case getSession(id: String), updateSession(id: String), deleteSession(id: String)
    case listChains(sessionId: String), addChain(sessionId: String)
    case sessionPresence(sessionId: String)
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
        if let route = fixed(method: method, path: path) { return .route(route) }
        return general(method: method, path: path)
    }

    /// Every route, by splitting the path at "/".
    static func general(method: HTTPMethod, path: String) -> Match {
        // Split on the byte, not the Character: a combining mark after "/" (e.g. a decoded
        // %E0%A5%97) joins it into one grapheme cluster that is not equal to "/".
        let parts = path.utf8.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: true)
            .map { String(decoding: $0, as: UTF8.self) }
        let table = candidates(parts, path: path)
        guard !table.isEmpty else { return .notFound }
        // HEAD is served as GET without a body.
        let effective = method == .head ? HTTPMethod.get : method
        if let hit = table.first(where: { $0.method == effective }) { return .route(hit.route) }
        var allow = table.map(\.method.name)
        if allow.contains("GET") { allow.append("HEAD") }
        allow.append("OPTIONS")
        return .methodNotAllowed(allow: allow)
    }

    /// The busiest routes, matched whole: no split, no arrays, no asset lookup. Anything else
    /// (ids, other methods, odd spellings such as `//health`) takes the general path below,
    /// which gives the same answer for these paths.
    static func fixed(method: HTTPMethod, path: String) -> Route? {
        switch method {
        case .get, .head:
            switch path {
            case "/health": .health
            case "/ws": .webSocket
            case "/ready": .ready
            case "/metrics": .metrics
            case "/api/stats": .stats
            case "/api/sessions": .listSessions
            default: nil
            }
        case .post:
            switch path {
            case "/api/events": .postEvents
            case "/api/sessions": .createSession
            default: nil
            }
        default:
            nil
        }
    }

    private static func candidates(_ p: [String], path: String) -> [(method: HTTPMethod, route: Route)] {
        if ConsoleAssets.isAssetPath(path) { return [(.get, .asset(path: path))] }
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
            case "stats": return [(.get, .stats)]
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
            case ("events", "stream"): return [(.get, .eventStream(sessionId: p[2]))]
            case ("sessions", "chains"): return [(.get, .listChains(sessionId: p[2])), (.post, .addChain(sessionId: p[2]))]
            case ("sessions", "presence"): return [(.get, .sessionPresence(sessionId: p[2]))]
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
    var requestLabel: HubMetrics.RequestLabel {
        switch self {
        case .health: .health
        case .ready: .ready
        case .metrics: .metrics
        case .stats: .stats
        case .asset: .console
        case .eventStream: .eventStream
        case .postEvents: .postEvents
        case .getEvents: .getEvents
        case .recentEvents: .recentEvents
        case .listSessions, .createSession: .sessions
        case .getSession, .updateSession, .deleteSession: .session
        case .listChains, .addChain: .chains
        case .sessionPresence: .presence
        case .getChain: .chain
        case .postInput, .drainInput: .input
        case .postCommand, .drainCommands: .commands
        case .ackCommand: .ackCommand
        case .mintToken: .tokens
        case .webSocket: .webSocket
        case .echo: .echo
        }
    }

    var metricLabel: String { requestLabel.text }
}
