import SBCore
import SBEventLoop
import SBRedis

extension RedisStore {
    /// Group commit: the appends that reach this store (one per loop) in one loop turn go to
    /// Redis together, as one EVALSHA of the append script (on Cluster, one per slot), at the
    /// end of the turn. Nothing waits to form a batch: a lone POST goes out in the same turn, as
    /// before. The script assigns, stores and publishes each event in order, atomically, and
    /// answers repeats of an idempotency key from its record (a key repeated inside one batch
    /// too). Each request still gets its own answer: the seqs of its events, or the failure of
    /// a script that carried one of them; `WAIT` (REDIS_MIN_REPLICAS) runs once per script call.
    public func appendEvents(_ events: [NewEvent], _ done: @escaping (Result<[AppendedEvent], StoreError>) -> Void) {
        guard !events.isEmpty else {
            return done(isAvailable ? .success([]) : .failure(.unavailable("redis is not connected")))
        }
        queuedAppends.append((events, done))
        guard !appendCommitScheduled else { return }
        appendCommitScheduled = true
        loop.schedule(after: .zero) { [self] in commitAppends() }
    }

    /// Every append queued this turn, as few script calls as the key layout allows.
    func commitAppends() {
        appendCommitScheduled = false
        let requests = queuedAppends
        queuedAppends = []
        // This runs at the end of the turn already: the script goes out now, not one loop
        // iteration later at the socket's own flush.
        defer { runner.flushWrites() }
        guard requests.count > 1 else {
            if let only = requests.first { appendBySlot(only.events, only.done) }
            return
        }
        var events: [NewEvent] = []
        for request in requests { events.append(contentsOf: request.events) }
        appendCommitBatches.increment(events.count)
        appendOutcomes(events) { outcomes in
            var offset = 0
            for request in requests {
                let mine = outcomes[offset..<(offset + request.events.count)]
                offset += request.events.count
                var appended: [AppendedEvent] = []
                appended.reserveCapacity(mine.count)
                var failure: StoreError?
                for outcome in mine {
                    switch outcome {
                    case .success(let item): appended.append(item)
                    case .failure(let error): failure = failure ?? error
                    }
                }
                request.done(failure.map { .failure($0) } ?? .success(appended))
            }
        }
    }

    /// One request's events: one script, or on Cluster one per slot; a failure of any fails it
    /// (503) while the other slots' events are stored: the retry with the same ids (or
    /// Idempotency-Key) stores nothing twice.
    private func appendBySlot(_ events: [NewEvent], _ done: @escaping (Result<[AppendedEvent], StoreError>) -> Void) {
        guard clustered, Set(events.map { ClusterSlot.of($0.sessionId) }).count > 1 else { return appendInOneScript(events, done) }
        appendOutcomes(events) { outcomes in
            var appended: [AppendedEvent] = []
            for outcome in outcomes {
                switch outcome {
                case .success(let item): appended.append(item)
                case .failure(let error): return done(.failure(error))
                }
            }
            done(.success(appended))
        }
    }

    /// Each event's outcome, in order: all events in one script (on Cluster, one script per
    /// slot), an event failing with the script that carried it.
    private func appendOutcomes(_ events: [NewEvent], _ done: @escaping ([Result<AppendedEvent, StoreError>]) -> Void) {
        var groups: [[Int]]
        if clustered {
            var bySlot: [Int: [Int]] = [:]
            for (index, event) in events.enumerated() { bySlot[ClusterSlot.of(event.sessionId), default: []].append(index) }
            groups = bySlot.sorted { $0.key < $1.key }.map(\.value)
        } else {
            groups = [Array(events.indices)]
        }
        var outcomes = [Result<AppendedEvent, StoreError>](repeating: .failure(.unavailable("not appended")), count: events.count)
        var remaining = groups.count
        for indices in groups {
            appendInOneScript(indices.map { events[$0] }) { result in
                switch result {
                case .failure(let error): for index in indices { outcomes[index] = .failure(error) }
                case .success(let appended): for (index, item) in zip(indices, appended) { outcomes[index] = .success(item) }
                }
                remaining -= 1
                if remaining == 0 { done(outcomes) }
            }
        }
    }

    /// One call of the append script. Its events go grouped by session (each session's keys
    /// and id cross once); the answers come back in the caller's order.
    private func appendInOneScript(_ events: [NewEvent], _ done: @escaping (Result<[AppendedEvent], StoreError>) -> Void) {
        // The sessions in order of first appearance, each with its events' indices in order.
        var sessionOrder: [String] = []
        var indicesBySession: [String: [Int]] = [:]
        for (index, event) in events.enumerated() {
            if indicesBySession[event.sessionId] == nil { sessionOrder.append(event.sessionId) }
            indicesBySession[event.sessionId, default: []].append(index)
        }
        var scriptKeys: [String] = []
        scriptKeys.reserveCapacity(sessionOrder.count * 4)
        var idempotencyKeys: [String] = []
        var arguments = RedisArguments()
        arguments.append(max(settings.historyLimit, 1))
        arguments.append(sessionTTL)
        arguments.append(channel)
        arguments.append(ISO8601.format(milliseconds: WallClock.millisecondsSinceEpoch()))
        arguments.append(StreamEpoch.next())
        arguments.append(max(settings.idempotencyTTLSeconds, 1))
        // With replicas to wait for, the script returns the channel messages instead of
        // publishing them: nothing is published that a failover could still lose.
        let deferPublish = replicas.minReplicas > 0
        arguments.append(deferPublish ? "0" : "1")
        let affixes = keys.sessionChannelAffixes
        arguments.append(sessionChannels ? affixes.prefix : "")
        arguments.append(sessionChannels ? affixes.suffix : "")
        arguments.append(sessionChannels ? sessionPublish : "")
        arguments.append(channelBatch ? "1" : "0")
        arguments.append(sessionOrder.count)
        // Only a call with a keyed event passes an eventId (or '') per event.
        let keyed = events.contains { $0.idempotencyKey != nil }
        arguments.append(keyed ? "1" : "0")
        let sentAt = MonotonicClock.now()
        var refreshing: [String] = []
        // The script answers in this order: session by session.
        var scriptOrder: [Int] = []
        scriptOrder.reserveCapacity(events.count)
        for sessionId in sessionOrder {
            let indices = indicesBySession[sessionId] ?? []
            scriptKeys.append(keys.seq(sessionId))
            scriptKeys.append(keys.events(sessionId))
            scriptKeys.append(keys.times(sessionId))
            scriptKeys.append(keys.epoch(sessionId))
            arguments.append(sessionId)
            arguments.append(indices.count)
            let refresh = lifetimeRefreshes.isDue(sessionId, now: sentAt)
            if refresh { refreshing.append(sessionId) }
            arguments.append(refresh ? "1" : "0")
            for index in indices {
                let event = events[index]
                arguments.append(StoredEventJSON.scriptArgument(body: event.body))
                arguments.append(event.timestampMillis)
                if let key = event.idempotencyKey {
                    idempotencyKeys.append(keys.idempotency(sessionId, key))
                    arguments.append(event.eventId)
                } else if keyed {
                    arguments.append("")
                }
                scriptOrder.append(index)
            }
        }
        scriptKeys.append(contentsOf: idempotencyKeys)
        run(.appendEvents, keys: scriptKeys, arguments: arguments) { [self] result in
            switch result {
            case .failure(let error):
                done(.failure(error))
            case .success(let reply):
                guard let parts = reply.array, parts.count == 2, let rows = parts[0].array, rows.count == 2 * events.count,
                      let published = parts[1].array else {
                    return done(.failure(.unavailable("unexpected reply to the append script")))
                }
                var answers = [AppendedEvent?](repeating: nil, count: events.count)
                for (row, index) in scriptOrder.enumerated() {
                    let event = events[index]
                    guard let seq = rows[2 * row].integer else {
                        return done(.failure(.unavailable("unexpected reply to the append script")))
                    }
                    // 0: stored now; the first append's eventId: a repeat of its idempotency key.
                    let firstEventId = rows[2 * row + 1].bytes.map { String(decoding: $0, as: UTF8.self) }
                    answers[index] = AppendedEvent(sessionId: event.sessionId, eventId: firstEventId ?? event.eventId, seq: seq,
                                                   duplicate: firstEventId != nil)
                }
                let appended = answers.compactMap { $0 }
                // A session refreshed only when the script stored one of its events (a call
                // of repeats alone writes nothing).
                if !refreshing.isEmpty {
                    let written = Set(appended.lazy.filter { !$0.duplicate }.map(\.sessionId))
                    for sessionId in refreshing where written.contains(sessionId) {
                        lifetimeRefreshes.confirm(sessionId, sentAt: sentAt)
                    }
                }
                guard deferPublish else { return done(.success(appended)) }
                var messages: [(sessionId: String, message: [UInt8])] = []
                var pair = 0
                while pair + 1 < published.count {
                    if let sessionId = published[pair].bytes, let message = published[pair + 1].bytes {
                        messages.append((String(decoding: sessionId, as: UTF8.self), message))
                    }
                    pair += 2
                }
                confirmAndPublish(messages, routedBy: keys.seq(events[0].sessionId)) { done($0.map { appended }) }
            }
        }
    }

    /// REDIS_MIN_REPLICAS: WAIT until enough replicas hold the append, then publish its channel
    /// messages; only then is it answered 2xx. Too few replicas in time → `.unavailable` (503):
    /// the events are stored on the master and may or may not survive a failover, and a retry
    /// with the same Idempotency-Key (or eventId) is answered from the first append.
    func confirmAndPublish(_ messages: [(sessionId: String, message: [UInt8])], routedBy key: String,
                           _ done: @escaping (Result<Void, StoreError>) -> Void) {
        waitForReplicas(routedBy: key) { [self] result in
            switch result {
            case .failure(let error):
                done(.failure(error))
            case .success(let confirmed) where confirmed < Int64(replicas.minReplicas):
                done(.failure(.unavailable("only \(confirmed) of \(replicas.minReplicas) redis replicas confirmed the write within \(replicas.timeoutMilliseconds) ms; retry with the same Idempotency-Key")))
            case .success:
                guard !messages.isEmpty else { return done(.success(())) }
                var publishes: [(command: RedisArguments, key: String)] = []
                for (sessionId, message) in messages {
                    for (verb, channel) in [("PUBLISH", channel), (sessionPublish, sessionChannel(sessionId))] where !channel.isEmpty {
                        var publish = RedisArguments([verb, channel])
                        publish.append(message)
                        publishes.append((publish, channel))
                    }
                }
                guard !publishes.isEmpty else { return done(.success(())) }
                var remaining = publishes.count
                var failure: StoreError?
                for publish in publishes {
                    command(publish.command, routedBy: publish.key) { result in
                        if case .failure(let error) = result { failure = failure ?? error }
                        remaining -= 1
                        if remaining == 0 { done(failure.map { .failure($0) } ?? .success(())) }
                    }
                }
            }
        }
    }

    /// One WAIT serves every append whose script reply arrived while it was in flight: Redis
    /// answers a connection in order, so such a script ran before that WAIT and is covered. On
    /// Cluster the WAIT goes to the master that ran the script (the one serving `key`), one in
    /// flight per master.
    func waitForReplicas(routedBy key: String, _ done: @escaping (Result<Int64, StoreError>) -> Void) {
        let master = (runner as? RedisCluster)?.master(of: key)?.description ?? ""
        if replicaWaiters[master] != nil {
            replicaWaiters[master]?.append(done)
            return
        }
        replicaWaiters[master] = [done]
        var wait: RedisArguments = ["WAIT"]
        wait.append(replicas.minReplicas)
        wait.append(max(replicas.timeoutMilliseconds, 1))
        command(wait, routedBy: key) { [self] result in
            let waiters = replicaWaiters[master] ?? []
            replicaWaiters[master] = nil
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
