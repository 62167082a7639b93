import SBRedis

extension RedisStore {
    /// RPUSH + EXPIRE (+ the command record for acks) + PUBLISH of the push, in one script, so
    /// every instance delivers the push to its subscribers of the session.
    public func enqueue(_ kind: QueueKind, sessionId: String, item: QueuedItem,
                        _ done: @escaping (Result<Void, StoreError>) -> Void) {
        var scriptKeys = [keys.queue(kind, sessionId)]
        let commandId = kind == .commands ? CommandID.extract(from: item.json) : nil
        if let commandId, !clustered { scriptKeys.append(keys.command(commandId)) }
        var arguments = RedisArguments()
        arguments.append(item.json)
        arguments.append(queueTTL)
        arguments.append(channel)
        arguments.append(RedisChannelMessage.push(sessionId: sessionId, queue: kind, item: item.json))
        arguments.append(max(settings.maxQueueLength, 0))
        arguments.append(sessionChannel(sessionId))
        arguments.append(sessionPublish)
        let maxLength = settings.maxQueueLength
        let enqueue = { [self] in
            run(.enqueue, keys: scriptKeys, arguments: arguments) { [self] result in
                if let commandId, clustered, case .success(let reply) = result, reply.integer == 0 {
                    command(["DEL", keys.command(commandId)], routedBy: keys.command(commandId)) { _ in }
                }
                done(result.flatMap { reply in
                    reply.integer == 0
                        ? .failure(.full("the \(kind.rawValue) queue of session \(sessionId) holds \(maxLength) items: drain it first"))
                        : .success(())
                })
            }
        }
        guard let commandId, clustered else { return enqueue() }
        // Cluster: the command record is in its own slot. Written first, so an ack that races
        // the push finds it; taken back if the queue was full.
        var record: RedisArguments = ["SET", keys.command(commandId)]
        record.append(item.json)
        record.append("EX")
        record.append(queueTTL)
        command(record, routedBy: keys.command(commandId)) { result in
            guard case .success = result else { return done(result.map { _ in () }) }
            enqueue()
        }
    }

    /// LRANGE + DEL in one script: racing drains never share or lose an item.
    public func drain(_ kind: QueueKind, sessionId: String, _ done: @escaping (Result<[QueuedItem], StoreError>) -> Void) {
        run(.drain, keys: [keys.queue(kind, sessionId)], arguments: RedisArguments()) { result in
            done(result.map { reply in (reply.array ?? []).compactMap { $0.bytes.map(QueuedItem.init) } })
        }
    }

    public func acknowledgeCommand(id: String, ack: [UInt8], _ done: @escaping (Result<Bool, StoreError>) -> Void) {
        var arguments = RedisArguments()
        arguments.append(ack)
        run(.acknowledge, keys: [keys.command(id)], arguments: arguments) { result in
            done(result.map { $0.integer == 1 })
        }
    }
}
