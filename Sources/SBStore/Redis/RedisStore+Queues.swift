import SBRedis

extension RedisStore {
    /// RPUSH + EXPIRE (+ the command record for acks) + PUBLISH of the push, in one script, so
    /// every instance delivers the push to its subscribers of the session.
    public func enqueue(_ kind: QueueKind, sessionId: String, item: QueuedItem, push: [UInt8],
                        _ done: @escaping (Result<Void, StoreError>) -> Void) {
        var scriptKeys = [keys.queue(kind, sessionId)]
        if kind == .commands, let id = CommandID.extract(from: item.json) { scriptKeys.append(keys.command(id)) }
        var arguments = RedisArguments()
        arguments.append(item.json)
        arguments.append(queueTTL)
        arguments.append(keys.channel)
        arguments.append(RedisChannelMessage.push(sessionId: sessionId, message: push))
        arguments.append(max(settings.maxQueueLength, 0))
        arguments.append(sessionChannel(sessionId))
        let maxLength = settings.maxQueueLength
        run(.enqueue, keys: scriptKeys, arguments: arguments) { result in
            done(result.flatMap { reply in
                reply.integer == 0
                    ? .failure(.full("the \(kind.rawValue) queue of session \(sessionId) holds \(maxLength) items: drain it first"))
                    : .success(())
            })
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
