import Logging
import SBCore
import CHiredis
import SBEventLoop

extension RedisConnection {
    /// Sends one command. `completion` runs exactly once, on the loop: synchronously with
    /// `.unavailable` when not ready, otherwise when the reply (or the failure) arrives. Loop thread.
    public func send(_ arguments: RedisArguments, _ completion: @escaping Completion) {
        guard machine.isReady, let adapter = current else {
            completion(.failure(.unavailable))
            return
        }
        enqueue(arguments, on: adapter, completion)
    }

    public func send(_ arguments: String..., completion: @escaping Completion) {
        send(RedisArguments(arguments), completion)
    }

    /// Runs a script by its SHA. A script not in `scripts` (so never loaded) goes as EVAL; a
    /// NOSCRIPT reply (the server's script cache was flushed or it restarted between our load and
    /// this call) is retried once as EVAL, which also puts the script back into the cache.
    public func evalSHA(_ script: LuaScript, keys: [String], arguments: RedisArguments, _ completion: @escaping Completion) {
        var tail = RedisArguments()
        tail.append(keys.count)
        for key in keys { tail.append(key) }
        tail.append(contentsOf: arguments)
        guard let sha = scriptSHAs[script.name] else {
            return send(eval(script, tail), completion)
        }
        var command: RedisArguments = ["EVALSHA"]
        command.append(sha)
        command.append(contentsOf: tail)
        send(command) { [weak self] result in
            if case .success(.error(let message)) = result, message.hasPrefix("NOSCRIPT"), let self {
                send(eval(script, tail), completion)
                return
            }
            completion(result)
        }
    }

    func eval(_ script: LuaScript, _ tail: RedisArguments) -> RedisArguments {
        var command: RedisArguments = ["EVAL", scriptsWithoutFlags ? script.sourceWithoutFlags : script.source]
        command.append(contentsOf: tail)
        return command
    }

    /// Hands the encoded command to hiredis with a one-shot box carrying the completion.
    /// Also used by the handshake, which runs before the connection is ready.
    func enqueue(_ arguments: RedisArguments, on adapter: HiredisAdapter, _ completion: @escaping Completion) {
        let box = Unmanaged.passRetained(ReplyBox(adapter: adapter, completion: completion)).toOpaque()
        let status = withinHiredis {
            arguments.withFormattedCommand { command, length in
                redisAsyncFormattedCommand(adapter.context, { _, reply, privdata in
                    guard let privdata else { return }
                    let box = Unmanaged<ReplyBox>.fromOpaque(privdata).takeRetainedValue()
                    box.complete(reply.map { RedisReply(copying: UnsafePointer($0.assumingMemoryBound(to: redisReply.self))) })
                }, box, command, length)
            }
        }
        guard status == REDIS_OK else {
            // hiredis refused it (the context is disconnecting): the callback will never run.
            Unmanaged<ReplyBox>.fromOpaque(box).release()
            completion(.failure(.unavailable))
            return
        }
        adapter.inFlight.append(clock.nowNanoseconds())
        // An armed watchdog re-arms itself for the new oldest command when it fires.
        if watchdog == nil { armWatchdog() }
    }
}

/// Carries a Swift completion through hiredis's `privdata`. hiredis calls the reply callback
/// exactly once per command — with the reply, or with NULL when the context is freed — so the
/// +1 reference taken in `enqueue` is released exactly once and the completion runs once.
final class ReplyBox {
    let adapter: HiredisAdapter
    let completion: RedisConnection.Completion

    init(adapter: HiredisAdapter, completion: @escaping RedisConnection.Completion) {
        self.adapter = adapter
        self.completion = completion
    }

    func complete(_ reply: RedisReply?) {
        adapter.owner.withinHiredis {
            guard let reply else {
                completion(.failure(adapter.failure))
                return
            }
            if !adapter.inFlight.isEmpty { adapter.inFlight.removeFirst() }
            completion(.success(reply))
        }
    }
}
