import Foundation
import Logging
import SBCore
import SBRedis

extension RedisStore {
    public func createSession(_ session: Session, _ done: @escaping (Result<Void, StoreError>) -> Void) {
        guard let json = try? JSONEncoder().encode(session) else { return done(.failure(.unavailable("cannot encode the session"))) }
        var arguments = RedisArguments()
        arguments.append(Array(json))
        arguments.append(sessionTTL)
        arguments.append(ISO8601.parse(session.startedAt) ?? WallClock.millisecondsSinceEpoch())
        arguments.append(session.id)
        arguments.append(keys.session(""))
        run(.createSession, keys: [keys.session(session.id), keys.sessionIndex], arguments: arguments) { result in
            done(result.map { _ in () })
        }
    }

    public func session(id: String, _ done: @escaping (Result<Session?, StoreError>) -> Void) {
        command(["GET", keys.session(id)]) { [logger] result in
            done(result.map { reply in reply.bytes.flatMap { Self.decodeSession($0, logger: logger) } })
        }
    }

    public func announceInstance(id: String, json: [UInt8], ttlSeconds: Int, _ done: @escaping (Result<[[UInt8]], StoreError>) -> Void) {
        var arguments = RedisArguments()
        arguments.append(keys.prefix)
        arguments.append(id)
        arguments.append(json)
        arguments.append(String(ttlSeconds))
        arguments.append(String(WallClock.millisecondsSinceEpoch()))
        arguments.append(String(InstanceRegistry.maxListed))
        run(.announceInstance, keys: [keys.instances, keys.instance(id)], arguments: arguments) { result in
            done(result.map { reply in (reply.array ?? []).compactMap(\.bytes) })
        }
    }

    public func listSessions(_ done: @escaping (Result<[SessionSummary], StoreError>) -> Void) {
        var arguments = RedisArguments()
        arguments.append(keys.prefix)
        run(.listSessions, keys: [keys.sessionIndex], arguments: arguments) { [logger] result in
            done(result.map { reply in
                let items = reply.array ?? []
                var out: [SessionSummary] = []
                for triple in stride(from: 0, to: items.count - 2, by: 3) {
                    guard let json = items[triple].bytes, let session = Self.decodeSession(json, logger: logger) else { continue }
                    out.append(SessionSummary(session: session, chainsCount: Int(items[triple + 1].integer ?? 0),
                                              lastSeq: items[triple + 2].integer ?? 0))
                }
                return out
            })
        }
    }

    /// One script merges the changed fields into the stored JSON and refreshes its TTL, so
    /// concurrent updates of different fields both survive and a deleted session stays deleted.
    public func updateSession(id: String, _ update: SessionUpdate, _ done: @escaping (Result<Session?, StoreError>) -> Void) {
        var fields = ["updatedAt": update.updatedAt]
        if let status = update.status { fields["status"] = status }
        if let summary = update.summary { fields["summary"] = summary }
        if let endReason = update.endReason { fields["endReason"] = endReason }
        if let endedAt = update.endedAt { fields["endedAt"] = endedAt }
        guard let json = try? JSONEncoder().encode(fields) else { return done(.failure(.unavailable("cannot encode the update"))) }
        var arguments = RedisArguments()
        arguments.append(Array(json))
        arguments.append(sessionTTL)
        run(.updateSession, keys: [keys.session(id)], arguments: arguments) { [logger] result in
            done(result.map { reply in reply.bytes.flatMap { Self.decodeSession($0, logger: logger) } })
        }
    }

    public func deleteSession(id: String, _ done: @escaping (Result<Bool, StoreError>) -> Void) {
        var arguments = RedisArguments()
        arguments.append(keys.prefix)
        arguments.append(id)
        arguments.append(StreamEpoch.next())
        arguments.append(sessionTTL)
        arguments.append(keys.channel)
        arguments.append(sessionChannel(id))
        run(.deleteSession, keys: [keys.sessionIndex], arguments: arguments) { result in
            done(result.map { $0.integer == 1 })
        }
    }

    // MARK: Chains

    public func addChain(_ chain: StoredChain, _ done: @escaping (Result<Void, StoreError>) -> Void) {
        var arguments = RedisArguments()
        arguments.append(chain.json)
        arguments.append(sessionTTL)
        arguments.append(chain.id)
        run(.addChain, keys: [keys.chain(chain.id), keys.chains(chain.sessionId)], arguments: arguments) { result in
            done(result.map { _ in () })
        }
    }

    public func chains(sessionId: String, _ done: @escaping (Result<[StoredChain], StoreError>) -> Void) {
        var arguments = RedisArguments()
        arguments.append(keys.prefix)
        run(.chains, keys: [keys.chains(sessionId)], arguments: arguments) { result in
            done(result.map { reply in
                (reply.array ?? []).compactMap { item in
                    item.bytes.map { StoredChain(id: TopLevelJSON.string("id", in: $0) ?? "", sessionId: sessionId, json: $0) }
                }
            })
        }
    }

    public func chain(id: String, _ done: @escaping (Result<StoredChain?, StoreError>) -> Void) {
        command(["GET", keys.chain(id)]) { result in
            done(result.map { reply in
                reply.bytes.map { StoredChain(id: id, sessionId: TopLevelJSON.string("sessionId", in: $0) ?? "", json: $0) }
            })
        }
    }

    /// A session the old backend wrote has extra fields (chains: []) that decoding ignores; one
    /// that does not decode at all is treated as absent, and logged.
    static func decodeSession(_ json: [UInt8], logger: Logger) -> Session? {
        do {
            return try JSONDecoder().decode(Session.self, from: Data(json))
        } catch {
            logger.warning("unreadable session JSON in redis", metadata: ["error": "\(error)"])
            return nil
        }
    }
}
