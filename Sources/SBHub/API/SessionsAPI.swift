import Foundation
import SBCore
import SBHTTP
import SBServer
import SBStore

/// Sessions and their chains.
enum SessionsAPI {
    static let statuses: Set<String> = ["pending", "active", "running", "paused", "completed", "failed", "cancelled"]
    static let terminal: Set<String> = ["completed", "failed"]

    static func create(_ request: HTTPRequest, store: any Store, access: Access = .full, _ done: @escaping (HTTPResponse) -> Void) {
        let object: [String: Any]
        switch JSONBody.object(request) {
        case .failure(let failure): return done(Reply.error(.from(failure)))
        case .success(let value): object = value
        }
        let cwd: String, hostname: String?, platform: String?, user: String?, givenId: String?
        do {
            cwd = try Field.requiredString(object, "cwd", maxLength: 4096).get()
            hostname = try Field.optionalString(object, "hostname", maxLength: 255).get()
            platform = try Field.optionalString(object, "platform", maxLength: 64).get()
            user = try Field.optionalString(object, "userId", maxLength: 255).get()
            givenId = try Field.optionalString(object, "id", maxLength: 200).get()
        } catch {
            return done(Reply.error(error))
        }
        if let givenId, !Field.isValidSessionId(givenId) {
            return done(Reply.error(.badRequest("id \(Field.sessionIdRule)")))
        }
        let id = givenId ?? IDGenerator.next()
        // A token creates only sessions it covers: name one with `id` (or hold a `*` pattern).
        if !access.allows(.publish, on: id) {
            return done(Reply.error(.forbidden(givenId == nil
                ? "token does not grant 'publish' on a generated session id; name the session with id"
                : Access.denial(.publish, id))))
        }
        let now = ISO8601.format(milliseconds: WallClock.millisecondsSinceEpoch())
        let session = Session(id: id, cwd: cwd, hostname: hostname, platform: platform,
                              user: user, status: "pending", startedAt: now)
        store.createSession(session) { result in
            switch result {
            case .failure(let error): done(Reply.error(.from(error)))
            case .success: done(Reply.raw(201, sessionBody(session, chains: [])))
            }
        }
    }

    /// A token sees only the sessions it may `read`; one without `read` at all gets 403.
    static func list(store: any Store, access: Access = .full, _ done: @escaping (HTTPResponse) -> Void) {
        if case .token(let grant) = access, !grant.scopes.contains(.read) {
            return done(Reply.error(.forbidden("token does not grant 'read'; listing sessions needs it")))
        }
        store.listSessions { result in
            switch result {
            case .failure(let error): done(Reply.error(.from(error)))
            case .success(let all):
                let summaries = access.isFull ? all : all.filter { access.allows(.read, on: $0.session.id) }
                let sessions: [[String: Any]] = summaries.map { summary in
                    let s = summary.session
                    return ["id": s.id, "status": s.status, "cwd": s.cwd, "startedAt": s.startedAt,
                            "endedAt": s.endedAt as Any? ?? NSNull(), "chainsCount": summary.chainsCount,
                            "lastSeq": summary.lastSeq]
                }
                done(Reply.json(200, ["count": sessions.count, "sessions": sessions]))
            }
        }
    }

    static func get(id: String, store: any Store, _ done: @escaping (HTTPResponse) -> Void) {
        store.session(id: id) { result in
            switch result {
            case .failure(let error): done(Reply.error(.from(error)))
            case .success(nil): done(Reply.error(.notFound("session \(id) not found")))
            case .success(let session?):
                store.chains(sessionId: id) { chains in
                    switch chains {
                    case .failure(let error): done(Reply.error(.from(error)))
                    case .success(let list): done(Reply.raw(200, sessionBody(session, chains: list)))
                    }
                }
            }
        }
    }

    static func update(_ request: HTTPRequest, id: String, store: any Store, _ done: @escaping (HTTPResponse) -> Void) {
        let object: [String: Any]
        switch JSONBody.object(request) {
        case .failure(let failure): return done(Reply.error(.from(failure)))
        case .success(let value): object = value
        }
        let now = ISO8601.format(milliseconds: WallClock.millisecondsSinceEpoch())
        var update = SessionUpdate(updatedAt: now)
        do {
            update.status = try Field.optionalString(object, "status", maxLength: 32).get()
            update.summary = try Field.optionalString(object, "summary", maxLength: 100_000).get()
            update.endReason = try Field.optionalString(object, "endReason", maxLength: 10_000).get()
        } catch {
            return done(Reply.error(error))
        }
        if let status = update.status {
            guard statuses.contains(status) else {
                return done(Reply.error(.badRequest("status must be one of \(statuses.sorted().joined(separator: ", "))")))
            }
            if terminal.contains(status) { update.endedAt = now }
        }
        store.updateSession(id: id, update) { result in
            switch result {
            case .failure(let error): done(Reply.error(.from(error)))
            case .success(nil): done(Reply.error(.notFound("session \(id) not found")))
            case .success(let session?):
                store.chains(sessionId: id) { chains in
                    done(Reply.raw(200, sessionBody(session, chains: (try? chains.get()) ?? [])))
                }
            }
        }
    }

    static func delete(id: String, store: any Store, _ done: @escaping (HTTPResponse) -> Void) {
        store.deleteSession(id: id) { result in
            switch result {
            case .failure(let error): done(Reply.error(.from(error)))
            case .success(false): done(Reply.error(.notFound("session \(id) not found")))
            case .success(true): done(Reply.noContent())
            }
        }
    }

    /// `GET /api/sessions/:id/presence`: who is subscribed to the session now, on every
    /// instance. 200 with count 0 for a session nobody watches (subscribers may wait for a
    /// session that does not exist yet, so there is no 404).
    static func presence(sessionId: String, loopHub: LoopHub, _ done: @escaping (HTTPResponse) -> Void) {
        guard Field.isValidSessionId(sessionId) else { return done(Reply.error(.badRequest("sessionId \(Field.sessionIdRule)"))) }
        loopHub.readPresence(sessionId: sessionId, limit: PresenceList.maxListed) { result in
            switch result {
            case .failure(let error): done(Reply.error(.from(error)))
            case .success(let list): done(Reply.raw(200, HubMessage.presenceList(sessionId: sessionId, list)))
            }
        }
    }

    static func listChains(sessionId: String, store: any Store, _ done: @escaping (HTTPResponse) -> Void) {
        guard Field.isValidSessionId(sessionId) else { return done(Reply.error(.badRequest("sessionId \(Field.sessionIdRule)"))) }
        store.chains(sessionId: sessionId) { result in
            switch result {
            case .failure(let error): done(Reply.error(.from(error)))
            case .success(let chains):
                var out = Array("{\"sessionId\":".utf8)
                JSONString.append(sessionId, to: &out)
                out.append(contentsOf: ",\"count\":\(chains.count),\"chains\":".utf8)
                appendArray(chains.map(\.json), to: &out)
                out.append(UInt8(ascii: "}"))
                done(Reply.raw(200, out))
            }
        }
    }

    static func addChain(_ request: HTTPRequest, sessionId: String, store: any Store, _ done: @escaping (HTTPResponse) -> Void) {
        guard Field.isValidSessionId(sessionId) else { return done(Reply.error(.badRequest("sessionId \(Field.sessionIdRule)"))) }
        var object: [String: Any]
        switch JSONBody.object(request) {
        case .failure(let failure): return done(Reply.error(.from(failure)))
        case .success(let value): object = value
        }
        if let name = object["name"], !(name is String) { return done(Reply.error(.badRequest("name must be a string"))) }
        store.session(id: sessionId) { result in
            switch result {
            case .failure(let error): return done(Reply.error(.from(error)))
            case .success(nil): return done(Reply.error(.notFound("session \(sessionId) not found")))
            case .success: break
            }
            let chainId = IDGenerator.next()
            object["id"] = chainId
            object["sessionId"] = sessionId
            object["createdAt"] = ISO8601.format(milliseconds: WallClock.millisecondsSinceEpoch())
            if object["status"] == nil { object["status"] = "pending" }
            let chain = StoredChain(id: chainId, sessionId: sessionId, json: JSONBody.encode(object))
            store.addChain(chain) { added in
                switch added {
                case .failure(let error): done(Reply.error(.from(error)))
                case .success: done(Reply.raw(201, chain.json))
                }
            }
        }
    }

    static func getChain(id: String, store: any Store, access: Access = .full, _ done: @escaping (HTTPResponse) -> Void) {
        store.chain(id: id) { result in
            switch result {
            case .failure(let error): done(Reply.error(.from(error)))
            // A chain the caller may not read is answered as one that does not exist: a 403
            // would confirm to a token holder that the id is in use.
            case .success(nil): done(Reply.error(.notFound("chain \(id) not found")))
            case .success(let chain?) where !access.allows(.read, on: chain.sessionId):
                done(Reply.error(.notFound("chain \(id) not found")))
            case .success(let chain?): done(Reply.raw(200, chain.json))
            }
        }
    }

    /// The session object with `"chains":[…]` spliced in as stored bytes.
    static func sessionBody(_ session: Session, chains: [StoredChain]) -> [UInt8] {
        var object: [String: Any] = ["id": session.id, "cwd": session.cwd, "status": session.status, "startedAt": session.startedAt]
        object["hostname"] = session.hostname ?? NSNull()
        object["platform"] = session.platform ?? NSNull()
        object["user"] = session.user ?? NSNull()
        if let endedAt = session.endedAt { object["endedAt"] = endedAt }
        if let summary = session.summary { object["summary"] = summary }
        if let endReason = session.endReason { object["endReason"] = endReason }
        if let updatedAt = session.updatedAt { object["updatedAt"] = updatedAt }
        var out = Array("{\"chains\":".utf8)
        appendArray(chains.map(\.json), to: &out)
        out.append(UInt8(ascii: ","))
        out.append(contentsOf: JSONBody.encode(object).dropFirst())
        return out
    }

    static func appendArray(_ items: [[UInt8]], to out: inout [UInt8]) {
        out.append(UInt8(ascii: "["))
        for (i, item) in items.enumerated() {
            if i > 0 { out.append(UInt8(ascii: ",")) }
            out.append(contentsOf: item)
        }
        out.append(UInt8(ascii: "]"))
    }
}
