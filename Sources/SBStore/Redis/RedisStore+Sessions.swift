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
        guard clustered else {
            return run(.createSession, keys: [keys.session(session.id), keys.sessionIndex], arguments: arguments) { result in
                done(result.map { _ in () })
            }
        }
        // Cluster: the index is in another slot. The record first, then the index entry; if
        // the second fails the answer is 503 and the client's retry writes both again.
        let score = ISO8601.parse(session.startedAt) ?? WallClock.millisecondsSinceEpoch()
        run(.createSession, keys: [keys.session(session.id)], arguments: arguments) { [self] result in
            guard case .success = result else { return done(result.map { _ in () }) }
            var add: RedisArguments = ["ZADD", keys.sessionIndex]
            add.append(score)
            add.append(session.id)
            command(add, routedBy: keys.sessionIndex) { done($0.map { _ in () }) }
        }
    }

    public func session(id: String, _ done: @escaping (Result<Session?, StoreError>) -> Void) {
        command(["GET", keys.session(id)], routedBy: keys.session(id)) { [logger] result in
            done(result.map { reply in reply.bytes.flatMap { Self.decodeSession($0, logger: logger) } })
        }
    }

    public func announceInstance(id: String, json: [UInt8], ttlSeconds: Int, _ done: @escaping (Result<[[UInt8]], StoreError>) -> Void) {
        var arguments = RedisArguments()
        arguments.append(keys.instance(""))
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
        if clustered { return listClusterSessions(done) }
        var arguments = RedisArguments()
        arguments.append(keys.session(""))
        arguments.append(keys.chains(""))
        arguments.append(keys.seq(""))
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
        arguments.append(id)
        arguments.append(StreamEpoch.next())
        arguments.append(sessionTTL)
        arguments.append(channel)
        arguments.append(sessionChannel(id))
        arguments.append(sessionPublish)
        arguments.append(keys.chain("", sessionId: id))
        var scriptKeys = [keys.session(id), keys.events(id), keys.times(id), keys.chains(id), keys.queue(.commands, id),
                          keys.queue(.input, id), keys.seq(id), keys.epoch(id)]
        if !clustered { scriptKeys.append(keys.sessionIndex) }
        run(.deleteSession, keys: scriptKeys, arguments: arguments) { [self] result in
            guard clustered, case .success(let reply) = result, reply.integer == 1 else { return done(result.map { $0.integer == 1 }) }
            // Cluster: the index entry (another slot) goes after; if that fails, listing prunes it.
            command(["ZREM", keys.sessionIndex, id], routedBy: keys.sessionIndex) { _ in done(.success(true)) }
        }
    }

    /// Cluster: the index (one key) gives the ids; each session's summary is read in its own
    /// slot, all at once, and ids whose session is gone are pruned from the index.
    func listClusterSessions(_ done: @escaping (Result<[SessionSummary], StoreError>) -> Void) {
        command(["ZRANGE", keys.sessionIndex, "0", "-1"], routedBy: keys.sessionIndex) { [self] result in
            let ids: [String]
            switch result {
            case .failure(let error): return done(.failure(error))
            case .success(let reply): ids = (reply.array ?? []).compactMap(\.text)
            }
            guard !ids.isEmpty else { return done(.success([])) }
            var summaries = [SessionSummary?](repeating: nil, count: ids.count)
            var gone: [String] = []
            var failure: StoreError?
            var remaining = ids.count
            for (index, id) in ids.enumerated() {
                run(.sessionSummary, keys: [keys.session(id), keys.chains(id), keys.seq(id)], arguments: RedisArguments()) { [self] result in
                    switch result {
                    case .failure(let error): failure = failure ?? error
                    case .success(let reply):
                        if let items = reply.array, items.count == 3, let json = items[0].bytes {
                            if let session = Self.decodeSession(json, logger: logger) {
                                summaries[index] = SessionSummary(session: session, chainsCount: Int(items[1].integer ?? 0),
                                                                  lastSeq: items[2].integer ?? 0)
                            }
                        } else {
                            gone.append(id)
                        }
                    }
                    remaining -= 1
                    guard remaining == 0 else { return }
                    if let failure { return done(.failure(failure)) }
                    if !gone.isEmpty {
                        command(RedisArguments(["ZREM", keys.sessionIndex] + gone), routedBy: keys.sessionIndex) { _ in }
                    }
                    done(.success(summaries.compactMap { $0 }))
                }
            }
        }
    }

    // MARK: Chains

    public func addChain(_ chain: StoredChain, _ done: @escaping (Result<Void, StoreError>) -> Void) {
        var arguments = RedisArguments()
        arguments.append(chain.json)
        arguments.append(sessionTTL)
        arguments.append(chain.id)
        let scriptKeys = [keys.chain(chain.id, sessionId: chain.sessionId), keys.chains(chain.sessionId)]
        guard clustered else {
            return run(.addChain, keys: scriptKeys, arguments: arguments) { result in done(result.map { _ in () }) }
        }
        // Cluster: the pointer by chain id first (its own slot), then the chain in its session's
        // slot; a pointer without a chain reads as absent.
        var pointer: RedisArguments = ["SET", keys.chainSession(chain.id), chain.sessionId, "EX"]
        pointer.append(sessionTTL)
        command(pointer, routedBy: keys.chainSession(chain.id)) { [self] result in
            guard case .success = result else { return done(result.map { _ in () }) }
            run(.addChain, keys: scriptKeys, arguments: arguments) { result in done(result.map { _ in () }) }
        }
    }

    public func chains(sessionId: String, _ done: @escaping (Result<[StoredChain], StoreError>) -> Void) {
        var arguments = RedisArguments()
        arguments.append(keys.chain("", sessionId: sessionId))
        run(.chains, keys: [keys.chains(sessionId)], arguments: arguments) { result in
            done(result.map { reply in
                (reply.array ?? []).compactMap { item in
                    item.bytes.map { StoredChain(id: TopLevelJSON.string("id", in: $0) ?? "", sessionId: sessionId, json: $0) }
                }
            })
        }
    }

    public func chain(id: String, _ done: @escaping (Result<StoredChain?, StoreError>) -> Void) {
        guard clustered else { return readChain(key: keys.chain(id, sessionId: ""), id: id, done) }
        command(["GET", keys.chainSession(id)], routedBy: keys.chainSession(id)) { [self] result in
            switch result {
            case .failure(let error): done(.failure(error))
            case .success(let reply):
                guard let sessionId = reply.text else { return done(.success(nil)) }
                readChain(key: keys.chain(id, sessionId: sessionId), id: id, done)
            }
        }
    }

    private func readChain(key: String, id: String, _ done: @escaping (Result<StoredChain?, StoreError>) -> Void) {
        command(["GET", key], routedBy: key) { result in
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
