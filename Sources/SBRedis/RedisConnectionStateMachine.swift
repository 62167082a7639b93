/// The lifecycle of one Redis connection as a value (lesson 8): each event returns the one
/// thing the driver (`RedisConnection`) must do next. Times are passed in, so every transition,
/// timeout and backoff step is tested without a socket or a clock.
///
///     idle ─start→ discovering ─address→ connecting ─TCP up→ handshaking ─AUTH…PING ok→ ready
///                      │                     │                   │                      │
///                      │ lookup failed       └─ socket failed (connect error, read error, EOF,
///                      │ or timed out           write error, bad reply) → drop → socket closed ┘
///                      │                                    ↓
///                      └──────────────────→ waiting ─backoff elapsed→ discovering …
///                                                                   any ─close→ closed
///
/// Discovering finds the address off the loop (a host name resolved again, or Sentinel asked
/// again, on every reconnect). Each lookup has an attempt number, so a late answer to a lookup
/// that already timed out is ignored.
///
/// Every reply read from the socket is routed here too (`route`): the answer to the oldest
/// pending command, or, on a subscriber connection, a push (`message`, `subscribe`, …) that
/// answers no command of its own; anything else means the stream can no longer be matched to
/// its commands, and the connection is dropped.
public struct RedisConnectionStateMachine: Sendable {
    public enum State: Equatable, Sendable {
        case idle
        /// A lookup (name resolution or Sentinel) is running off the loop; no context yet.
        case discovering(attempt: Int, deadline: UInt64)
        /// A socket exists; the TCP connect is in progress (with `rediss://`, then the TLS
        /// handshake: the one deadline covers both, and `connected` comes after it).
        case connecting(deadline: UInt64)
        /// Connected; AUTH, SELECT, SCRIPT LOAD and PING are in flight. Nothing else is sent.
        case handshaking(deadline: UInt64)
        case ready
        /// No socket; a reconnect is scheduled.
        case waiting
        case closed
    }

    public enum Action: Equatable, Sendable {
        case none
        /// Look the address up off the loop and report it with `addressFound(attempt:)`.
        case discover(attempt: Int)
        /// Open a socket and start a non-blocking connect.
        case connect
        /// Send the handshake commands.
        case handshake
        /// Commands may flow; tell observers.
        case becomeReady
        /// Close the socket now; its pending commands fail with this error, then report
        /// `contextLost`.
        case drop(RedisError)
        /// Schedule `reconnectDue` after this delay.
        case reconnect(afterMilliseconds: Int)
        /// Close gracefully: pending replies still arrive, then the socket is closed.
        case disconnect
    }

    /// A subscriber connection (RedisSubscriber) gets pushes; a command connection never
    /// does, so a script's array that happens to start with "message" is still its reply.
    public enum Role: Equatable, Sendable {
        case commands
        case subscriber
    }

    /// How the socket under a connection failed. Every one drops it (its pending commands fail
    /// with `.disconnected`) and a reconnect follows.
    public enum SocketFailure: Equatable, Sendable {
        /// The TCP connect was refused or failed (errno), or could not start.
        case connectFailed(Int32)
        case readFailed(Int32)
        case writeFailed(Int32)
        /// The server closed the connection (EOF).
        case closedByPeer
        /// The bytes are not RESP (the reply reader failed), or a reply came that no command
        /// was waiting for.
        case protocolError
        /// `rediss://`: the TLS handshake or session failed, with OpenSSL's reason
        /// ("certificate verify failed: unable to get local issuer certificate").
        case tls(String)
    }

    /// Where one reply read from the socket goes.
    public enum ReplyRoute: Equatable, Sendable {
        /// Completes the oldest pending command.
        case completeOldest
        /// A Pub/Sub push: to the subscriber, no command consumed.
        case push
        /// Nothing waits for it: the stream is out of step; drop.
        case unexpected
    }

    public private(set) var state = State.idle
    public let role: Role
    public private(set) var backoff: Backoff
    let connectTimeout: UInt64
    let commandTimeout: UInt64
    let discoveryTimeout: UInt64
    private var attempts = 0

    /// Timeouts in nanoseconds, in the same clock as the `now` values passed in.
    public init(connectTimeout: UInt64, commandTimeout: UInt64, discoveryTimeout: UInt64? = nil, backoff: Backoff = Backoff(),
                role: Role = .commands) {
        self.role = role
        self.connectTimeout = connectTimeout
        self.commandTimeout = commandTimeout
        self.discoveryTimeout = discoveryTimeout ?? connectTimeout
        self.backoff = backoff
    }

    public var isReady: Bool { state == .ready }

    public mutating func start(now: UInt64) -> Action {
        guard state == .idle else { return .none }
        return discover(now: now)
    }

    private mutating func discover(now: UInt64) -> Action {
        attempts += 1
        state = .discovering(attempt: attempts, deadline: now &+ discoveryTimeout)
        return .discover(attempt: attempts)
    }

    /// The lookup `attempt` found the address: connect to it. A stale attempt changes nothing.
    public mutating func addressFound(attempt: Int, now: UInt64) -> Action {
        guard case .discovering(attempt, _) = state else { return .none }
        state = .connecting(deadline: now &+ connectTimeout)
        return .connect
    }

    /// The lookup `attempt` failed: back off and look again.
    public mutating func discoveryFailed(attempt: Int, random: Double) -> Action {
        guard case .discovering(attempt, _) = state else { return .none }
        state = .waiting
        return .reconnect(afterMilliseconds: backoff.next(random: random))
    }

    /// The TCP connection is established.
    public mutating func connected(now: UInt64) -> Action {
        guard case .connecting = state else { return .none }
        state = .handshaking(deadline: now &+ connectTimeout)
        return .handshake
    }

    public mutating func handshakeFinished(ok: Bool) -> Action {
        guard case .handshaking = state else { return .none }
        guard ok else { return .drop(.disconnected) }
        state = .ready
        backoff.reset()
        return .becomeReady
    }

    /// The socket failed (see `SocketFailure`): drop it, so its pending commands fail. A
    /// closed connection still finishing its replies drops too (no reconnect follows, see
    /// `contextLost`); without a socket there is nothing to drop.
    public mutating func socketFailed(_ failure: SocketFailure) -> Action {
        switch state {
        case .connecting, .handshaking, .ready, .closed:
            return .drop(.disconnected)
        case .idle, .discovering, .waiting:
            return .none
        }
    }

    /// A reply was read; `pending` commands await theirs. On a subscriber connection that is
    /// ready (or closing), a push-shaped reply (`RedisPush`) is a push; everything else answers
    /// the oldest command, in order, as Redis replies in order.
    public func route(isPush: Bool, pending: Int) -> ReplyRoute {
        if isPush, role == .subscriber {
            switch state {
            case .ready, .closed: return .push
            default: break
            }
        }
        return pending > 0 ? .completeOldest : .unexpected
    }

    /// The socket is closed (connect failure, I/O error, server close, or our own drop), or
    /// none could be opened at all.
    public mutating func contextLost(random: Double) -> Action {
        switch state {
        case .connecting, .handshaking, .ready:
            state = .waiting
            return .reconnect(afterMilliseconds: backoff.next(random: random))
        case .idle, .discovering, .waiting, .closed:
            return .none
        }
    }

    public mutating func reconnectDue(now: UInt64) -> Action {
        guard state == .waiting else { return .none }
        return discover(now: now)
    }

    /// Called when the deadline from `nextDeadline` passes. `oldestCommand` is the send time of
    /// the oldest command still waiting for its reply. A lookup past its deadline is abandoned
    /// (its late answer will be ignored) and retried after the backoff.
    public mutating func tick(now: UInt64, oldestCommand: UInt64?, random: Double = 0.5) -> Action {
        if case .discovering(let attempt, let deadline) = state {
            return now >= deadline ? discoveryFailed(attempt: attempt, random: random) : .none
        }
        switch state {
        case .connecting(let deadline), .handshaking(let deadline):
            if now >= deadline { return .drop(.timeout) }
        default:
            break
        }
        if let oldestCommand, now >= oldestCommand &+ commandTimeout { return .drop(.timeout) }
        return .none
    }

    /// When `tick` must next run, or nil when nothing can time out.
    public func nextDeadline(oldestCommand: UInt64?) -> UInt64? {
        var deadline: UInt64?
        switch state {
        case .connecting(let d), .handshaking(let d), .discovering(_, let d): deadline = d
        default: break
        }
        if let oldestCommand {
            let commandDeadline = oldestCommand &+ commandTimeout
            deadline = min(deadline ?? commandDeadline, commandDeadline)
        }
        return deadline
    }

    public mutating func close() -> Action {
        let hadContext: Bool
        switch state {
        case .connecting, .handshaking, .ready: hadContext = true
        case .idle, .discovering, .waiting, .closed: hadContext = false
        }
        state = .closed
        return hadContext ? .disconnect : .none
    }
}
