import Logging
import SBCore
import SBEventLoop

extension RedisConnection {
    /// What runs on every new connection before it is ready, pipelined in this order: AUTH
    /// (with the user when the URL has one), SELECT, one SCRIPT LOAD per script, PING. All must
    /// succeed; any error reply or failure drops the connection and the backoff retries. A
    /// script whose flags line the server cannot compile (Redis 6.2) is loaded again without it.
    func handshake(on socket: RedisSocket) {
        var steps: [(name: String, command: RedisArguments, script: LuaScript?)] = []
        if let password = url.password {
            var auth: RedisArguments = ["AUTH"]
            if let user = url.user { auth.append(user) }
            auth.append(password)
            steps.append(("AUTH", auth, nil))
        }
        if url.db != 0 { steps.append(("SELECT", ["SELECT", String(url.db)], nil)) }
        // With Sentinel, its answer may be stale (a failover under way, a demoted master back
        // up): only a server that says it is the master is used.
        if usesSentinel { steps.append(("ROLE", ["ROLE"], nil)) }
        for script in scripts { steps.append(("SCRIPT LOAD", ["SCRIPT", "LOAD", script.source], script)) }
        // PING last: proves the server answers before we call it ready.
        steps.append(("PING", ["PING"], nil))

        // Learned again on every connect: after a failover the server may be another version.
        scriptsWithoutFlags = false
        var remaining = steps.count
        var failure: String?
        func run(_ step: (name: String, command: RedisArguments, script: LuaScript?)) {
            enqueue(step.command, on: socket) { [weak self, weak socket] result in
                guard let self else { return }
                switch result {
                case .success(.error(let message)) where step.script.map({ $0.source != $0.sourceWithoutFlags }) == true
                    && LuaScript.isFlagsLineRefusal(message):
                    // Redis before 7.0: load it again without the flags line (before this
                    // step counts as done, so the handshake waits for the second load).
                    if !scriptsWithoutFlags {
                        logger.warning("redis is older than 7.0: scripts run without flags, so maxmemory is not enforced at a script's start",
                                       metadata: ["redis": "\(endpointName)"])
                        scriptsWithoutFlags = true
                    }
                    if let script = step.script, let socket, socket === current {
                        remaining += 1
                        run((step.name, ["SCRIPT", "LOAD", script.sourceWithoutFlags], script))
                    }
                case .success(.error(let message)):
                    // Never log the AUTH arguments; the server's message names no secret.
                    failure = failure ?? "\(step.name): \(message)"
                case .success(let reply) where step.name == "ROLE":
                    if reply.array?.first?.bytes != Array("master".utf8) {
                        failure = failure ?? "ROLE: the server at \(address.map(String.init(describing:)) ?? "?") is not a master"
                    }
                case .success(let reply):
                    if let script = step.script, let sha = reply.bytes { scriptSHAs[script.name] = sha }
                case .failure(let error):
                    failure = failure ?? "\(step.name): \(error)"
                }
                remaining -= 1
                guard remaining == 0, let socket, socket === current else { return }
                if let failure {
                    logger.error("redis handshake failed", metadata: ["redis": "\(endpointName)", "error": "\(failure)"])
                }
                apply(machine.handshakeFinished(ok: failure == nil))
            }
        }
        for step in steps { run(step) }
    }
}
