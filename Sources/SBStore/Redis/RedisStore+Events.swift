import SBCore
import SBRedis

extension RedisStore {
    /// One EVALSHA for the whole batch: the script assigns, stores and publishes each event in
    /// array order, atomically, and answers repeats of an idempotency key from its record. The
    /// seqs come back only once Redis ran it.
    public func appendEvents(_ events: [NewEvent], _ done: @escaping (Result<[AppendedEvent], StoreError>) -> Void) {
        guard !events.isEmpty else {
            return done(isAvailable ? .success([]) : .failure(.unavailable("redis is not connected")))
        }
        var scriptKeys: [String] = []
        scriptKeys.reserveCapacity(events.count * 5)
        var arguments = RedisArguments()
        arguments.append(max(settings.historyLimit, 1))
        arguments.append(sessionTTL)
        arguments.append(keys.channel)
        arguments.append(ISO8601.format(milliseconds: WallClock.millisecondsSinceEpoch()))
        arguments.append(StreamEpoch.next())
        arguments.append(max(settings.idempotencyTTLSeconds, 1))
        // With replicas to wait for, the script returns the channel messages instead of
        // publishing them: nothing is published that a failover could still lose.
        let deferPublish = replicas.minReplicas > 0
        arguments.append(deferPublish ? "0" : "1")
        arguments.append(sessionChannels ? keys.sessionChannelPrefix : "")
        for event in events {
            scriptKeys.append(keys.seq(event.sessionId))
            scriptKeys.append(keys.events(event.sessionId))
            scriptKeys.append(keys.times(event.sessionId))
            scriptKeys.append(keys.epoch(event.sessionId))
            scriptKeys.append(keys.idempotency(event.sessionId, event.idempotencyKey ?? ""))
            arguments.append(event.sessionId)
            arguments.append(event.body)
            arguments.append(event.eventId)
            arguments.append(event.idempotencyKey == nil ? "0" : "1")
            arguments.append(event.timestampMillis)
        }
        run(.appendEvents, keys: scriptKeys, arguments: arguments) { [self] result in
            switch result {
            case .failure(let error):
                done(.failure(error))
            case .success(let reply):
                let rows = reply.array ?? []
                guard rows.count == events.count else {
                    return done(.failure(.unavailable("unexpected reply to the append script")))
                }
                var appended: [AppendedEvent] = []
                var messages: [(sessionId: String, message: [UInt8])] = []
                appended.reserveCapacity(rows.count)
                for (event, row) in zip(events, rows) {
                    guard let fields = row.array, fields.count >= 2, let seq = fields[0].integer else {
                        return done(.failure(.unavailable("unexpected reply to the append script")))
                    }
                    let duplicate = fields[1].integer == 1
                    let eventId = duplicate ? fields.count > 2 ? fields[2].bytes.map { String(decoding: $0, as: UTF8.self) } ?? event.eventId : event.eventId
                                            : event.eventId
                    if fields.count > 3, let message = fields[3].bytes { messages.append((event.sessionId, message)) }
                    appended.append(AppendedEvent(sessionId: event.sessionId, eventId: eventId, seq: seq, duplicate: duplicate))
                }
                guard deferPublish else { return done(.success(appended)) }
                confirmAndPublish(messages) { done($0.map { appended }) }
            }
        }
    }

    /// REDIS_MIN_REPLICAS: WAIT until enough replicas hold the append, then publish its channel
    /// messages; only then is it answered 2xx. Too few replicas in time → `.unavailable` (503):
    /// the events are stored on the master and may or may not survive a failover, and a retry
    /// with the same Idempotency-Key (or eventId) is answered from the first append.
    func confirmAndPublish(_ messages: [(sessionId: String, message: [UInt8])], _ done: @escaping (Result<Void, StoreError>) -> Void) {
        waitForReplicas { [self] result in
            switch result {
            case .failure(let error):
                done(.failure(error))
            case .success(let confirmed) where confirmed < Int64(replicas.minReplicas):
                done(.failure(.unavailable("only \(confirmed) of \(replicas.minReplicas) redis replicas confirmed the write within \(replicas.timeoutMilliseconds) ms; retry with the same Idempotency-Key")))
            case .success:
                guard !messages.isEmpty else { return done(.success(())) }
                var publishes: [RedisArguments] = []
                for (sessionId, message) in messages {
                    for channel in [keys.channel, sessionChannel(sessionId)] where !channel.isEmpty {
                        var publish: RedisArguments = ["PUBLISH", channel]
                        publish.append(message)
                        publishes.append(publish)
                    }
                }
                var remaining = publishes.count
                var failure: StoreError?
                for publish in publishes {
                    command(publish) { result in
                        if case .failure(let error) = result { failure = failure ?? error }
                        remaining -= 1
                        if remaining == 0 { done(failure.map { .failure($0) } ?? .success(())) }
                    }
                }
            }
        }
    }

    /// One WAIT serves every append whose script reply arrived while it was in flight: Redis
    /// answers a connection in order, so such a script ran before that WAIT and is covered.
    func waitForReplicas(_ done: @escaping (Result<Int64, StoreError>) -> Void) {
        if replicaWaiters != nil {
            replicaWaiters?.append(done)
            return
        }
        replicaWaiters = [done]
        var wait: RedisArguments = ["WAIT"]
        wait.append(replicas.minReplicas)
        wait.append(max(replicas.timeoutMilliseconds, 1))
        command(wait) { [self] result in
            let waiters = replicaWaiters ?? []
            replicaWaiters = nil
            let outcome = result.flatMap { reply in
                reply.integer.map { Result<Int64, StoreError>.success($0) } ?? .failure(.unavailable("unexpected reply to WAIT"))
            }
            for waiter in waiters { waiter(outcome) }
        }
    }

    /// The readStream script: epoch, last and oldest seq, and one page, atomically.
    public func readStream(sessionId: String, after: Int64, limit: PageLimit,
                           _ done: @escaping (Result<StreamPage, StoreError>) -> Void) {
        var arguments = RedisArguments()
        arguments.append(max(after, 0))
        arguments.append(max(limit.count, 0))
        arguments.append(max(limit.bytes, 1))
        arguments.append(StreamEpoch.next())
        arguments.append(sessionTTL)
        run(.readStream, keys: [keys.seq(sessionId), keys.events(sessionId), keys.epoch(sessionId)], arguments: arguments) { result in
            done(result.flatMap { reply in
                guard let items = reply.array, items.count >= 3, let epochBytes = items[0].bytes,
                      let lastSeq = items[1].integer, let oldestSeq = items[2].integer else {
                    return .failure(.unavailable("unexpected reply to the readStream script"))
                }
                var events: [StoredEvent] = []
                events.reserveCapacity(items.count - 3)
                for item in items.dropFirst(3) {
                    guard let json = item.bytes, let seq = StoredEventJSON.seq(of: json), seq > after else { continue }
                    events.append(StoredEvent(seq: seq, json: json))
                }
                return .success(StreamPage(epoch: String(decoding: epochBytes, as: UTF8.self), lastSeq: lastSeq,
                                           oldestSeq: oldestSeq, events: events))
            })
        }
    }

    /// Reads the session's LIST through the readEvents script, which sends only the events the
    /// query returns (`since` is matched against the parallel `times` list inside Redis).
    /// Entries without a seq (written by the old backend) are skipped.
    public func events(sessionId: String, query: EventQuery, _ done: @escaping (Result<[StoredEvent], StoreError>) -> Void) {
        var arguments = RedisArguments()
        arguments.append(max(query.after ?? -1, -1))
        arguments.append(max(query.limit, 0))
        arguments.append(query.newest ? "1" : "0")
        arguments.append(query.sinceMillis ?? -1)
        run(.readEvents, keys: [keys.events(sessionId), keys.times(sessionId)], arguments: arguments) { result in
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
