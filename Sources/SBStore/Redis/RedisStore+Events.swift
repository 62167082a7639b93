import SBCore
import SBRedis

extension RedisStore {
    /// One EVALSHA for the whole batch: the script assigns, stores and publishes each event in
    /// array order, atomically. The seqs come back only once Redis ran it.
    public func appendEvents(_ events: [NewEvent], _ done: @escaping (Result<[AppendedEvent], StoreError>) -> Void) {
        guard !events.isEmpty else {
            return done(isAvailable ? .success([]) : .failure(.unavailable("redis is not connected")))
        }
        var scriptKeys: [String] = []
        scriptKeys.reserveCapacity(events.count * 2)
        var arguments = RedisArguments()
        arguments.append(max(settings.historyLimit, 1))
        arguments.append(sessionTTL)
        arguments.append(keys.channel)
        arguments.append(ISO8601.format(milliseconds: MonotonicClock.wallMilliseconds()))
        for event in events {
            scriptKeys.append(keys.seq(event.sessionId))
            scriptKeys.append(keys.events(event.sessionId))
            arguments.append(event.sessionId)
            arguments.append(event.body)
        }
        run(.appendEvents, keys: scriptKeys, arguments: arguments) { result in
            switch result {
            case .failure(let error):
                done(.failure(error))
            case .success(let reply):
                let seqs = reply.array?.compactMap(\.integer) ?? []
                guard seqs.count == events.count else {
                    return done(.failure(.unavailable("unexpected reply to the append script")))
                }
                done(.success(zip(events, seqs).map { AppendedEvent(sessionId: $0.sessionId, eventId: $0.eventId, seq: $1) }))
            }
        }
    }

    /// Reads the session's LIST through the readEvents script, which sends only the slice the
    /// query can use when it can tell (after/limit without since); `since` compares each event's
    /// own `timestamp` field. Entries without a seq (written by the old backend) are skipped.
    public func events(sessionId: String, query: EventQuery, _ done: @escaping (Result<[StoredEvent], StoreError>) -> Void) {
        var arguments = RedisArguments()
        arguments.append(max(query.after ?? -1, -1))
        arguments.append(query.sinceMillis == nil ? max(query.limit, 0) : -1)
        arguments.append(query.newest ? "1" : "0")
        run(.readEvents, keys: [keys.events(sessionId)], arguments: arguments) { result in
            done(result.map { reply in
                var events: [StoredEvent] = []
                for item in reply.array ?? [] {
                    guard let json = item.bytes, let seq = StoredEventJSON.seq(of: json) else { continue }
                    if let after = query.after, seq <= after { continue }
                    if let since = query.sinceMillis {
                        guard let millis = StoredEventJSON.timestampMillis(of: json), millis >= since else { continue }
                    }
                    events.append(StoredEvent(seq: seq, json: json))
                }
                return EventQueryWindow.apply(query, to: events)
            })
        }
    }
}
