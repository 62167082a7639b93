import Foundation
import SBCore
import SBRedis

extension RedisStore {
    static let encoder = JSONEncoder()

    public func createSession(_ session: Session, _ done: @escaping (Result<Void, StoreError>) -> Void) {
        guard let json = try? Self.encoder.encode(session) else { return done(.failure(.unavailable("cannot encode session"))) }
        let score = String(ISO8601.parse(session.startedAt) ?? MonotonicClock.wallMilliseconds())
        run(.createSession, keys: [keys.session(session.id), keys.sessionIndex],
            args: [Array(json), ttl, Array(score.utf8), Array(session.id.utf8)]) { result in
            done(result.map { _ in () })
        }
    }

    public func session(id: String, _ done: @escaping (Result<Session?, StoreError>) -> Void) {
        command(["GET", keys.session(id)]) { result in
            done(result.map { reply in reply.bytes.flatMap { try? JSONDecoder().decode(Session.self, from: Data($0)) } })
        }
    }

    public func listSessions(_ done: @escaping (Result<[SessionSummary], StoreError>) -> Void) {
        run(.listSessions, keys: [keys.sessionIndex], args: [Array(keys.prefix.utf8)]) { result in
            done(result.map { reply in
                let items = reply.array ?? []
                var out: [SessionSummary] = []
                var i = 0
                while i + 1 < items.count {
                    if let json = items[i].bytes, let session = try? JSONDecoder().decode(Session.self, from: Data(json)) {
                        out.append(SessionSummary(session: session, chainsCount: Int(items[i + 1].integer ?? 0)))
                    }
                    i += 2
                }
                return out
            })
        }
    }

    /// Read, apply, write back with a fresh TTL. Concurrent updates of one session are
    /// last-writer-wins (documented in REDIS_INTEGRATION.md).
    public func updateSession(id: String, _ update: SessionUpdate, _ done: @escaping (Result<Session?, StoreError>) -> Void) {
        session(id: id) { [self] result in
            switch result {
            case .failure(let error): done(.failure(error))
            case .success(nil): done(.success(nil))
            case .success(var session?):
                session.apply(update)
                guard let json = try? Self.encoder.encode(session) else { return done(.failure(.unavailable("cannot encode session"))) }
                connection.send([Array("SET".utf8), Array(keys.session(id).utf8), Array(json), Array("EX".utf8), ttl]) { sent in
                    done(Self.map(sent).map { _ in session })
                }
            }
        }
    }

    public func deleteSession(id: String, _ done: @escaping (Result<Bool, StoreError>) -> Void) {
        run(.deleteSession, keys: [keys.sessionIndex], args: [Array(keys.prefix.utf8), Array(id.utf8)]) { result in
            done(result.map { ($0.integer ?? 0) == 1 })
        }
    }

    public func addChain(_ chain: StoredChain, _ done: @escaping (Result<Void, StoreError>) -> Void) {
        run(.addChain, keys: [keys.chain(chain.id), keys.chains(chain.sessionId)], args: [chain.json, ttl, Array(chain.id.utf8)]) { result in
            done(result.map { _ in () })
        }
    }

    public func chains(sessionId: String, _ done: @escaping (Result<[StoredChain], StoreError>) -> Void) {
        run(.chains, keys: [keys.chains(sessionId)], args: [Array(keys.prefix.utf8)]) { result in
            done(result.map { reply in
                (reply.array ?? []).compactMap { item in
                    guard let json = item.bytes else { return nil }
                    return StoredChain(id: StoredEventJSON.stringField("id", in: json) ?? "", sessionId: sessionId, json: json)
                }
            })
        }
    }

    public func chain(id: String, _ done: @escaping (Result<StoredChain?, StoreError>) -> Void) {
        command(["GET", keys.chain(id)]) { result in
            done(result.map { reply in
                reply.bytes.map { StoredChain(id: id, sessionId: StoredEventJSON.stringField("sessionId", in: $0) ?? "", json: $0) }
            })
        }
    }

    // MARK: Queues

    public func enqueue(_ kind: QueueKind, sessionId: String, item: QueuedItem, push: [UInt8], _ done: @escaping (Result<Void, StoreError>) -> Void) {
        let commandKey = kind == .commands ? CommandID.extract(from: item.json).map(keys.command) ?? "" : ""
        var message = Array("{\"sessionId\":\"\(sessionId)\",\"kind\":\"push\",\"message\":".utf8)
        message.append(contentsOf: push)
        message.append(UInt8(ascii: "}"))
        run(.enqueue, keys: [keys.queue(kind, sessionId), commandKey], args: [item.json, queueTTL, Array(keys.channel.utf8), message]) { result in
            done(result.map { _ in () })
        }
    }

    public func drain(_ kind: QueueKind, sessionId: String, _ done: @escaping (Result<[QueuedItem], StoreError>) -> Void) {
        run(.drain, keys: [keys.queue(kind, sessionId)], args: []) { result in
            done(result.map { reply in (reply.array ?? []).compactMap { $0.bytes.map(QueuedItem.init) } })
        }
    }

    public func acknowledgeCommand(id: String, ack: [UInt8], _ done: @escaping (Result<Bool, StoreError>) -> Void) {
        run(.acknowledge, keys: [keys.command(id)], args: [ack]) { result in
            done(result.map { ($0.integer ?? 0) == 1 })
        }
    }
}
