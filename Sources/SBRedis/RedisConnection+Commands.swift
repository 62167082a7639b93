import Logging
import SBCore
import SBEventLoop

extension RedisConnection {
    /// Sends one command. `completion` runs exactly once, on the loop: synchronously with
    /// `.unavailable` when not ready, otherwise when the reply (or the failure) arrives. Loop thread.
    public func send(_ arguments: RedisArguments, _ completion: @escaping Completion) {
        guard machine.isReady, let socket = current else {
            completion(.failure(.unavailable))
            return
        }
        enqueue(arguments, on: socket, completion)
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

    /// Writes the commands queued so far at once (see `RedisSocket.flushNow`). Loop thread.
    public func flushWrites() {
        current?.flushNow()
    }

    /// Sends a command whose answers come as pushes (SUBSCRIBE, UNSUBSCRIBE on a subscriber
    /// connection): nothing waits for a reply. False when not ready. Loop thread.
    func sendUnanswered(_ arguments: RedisArguments) -> Bool {
        guard machine.isReady, let socket = current else { return false }
        return socket.queue(arguments)
    }

    /// Queues the command on the socket (written at this turn's flush) and its completion
    /// behind the ones already pending. Also used by the handshake, which runs before the
    /// connection is ready.
    func enqueue(_ arguments: RedisArguments, on socket: RedisSocket, _ completion: @escaping Completion) {
        guard socket.queue(arguments) else {
            // Closed, or a server that stopped reading left too much unsent.
            completion(.failure(.unavailable))
            return
        }
        socket.pending.append(RedisSocket.Pending(sentAt: clock.nowNanoseconds(), completion: completion))
        // An armed watchdog re-arms itself for the new oldest command when it fires.
        if watchdog == nil { armWatchdog() }
    }
}
