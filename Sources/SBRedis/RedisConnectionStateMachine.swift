/// The lifecycle of one Redis connection as a value (lesson 8): each event returns the one
/// thing the driver (`RedisConnection`) must do next. Times are passed in, so every transition,
/// timeout and backoff step is tested without a socket or a clock.
///
///     idle ─start→ discovering ─address→ connecting ─TCP up→ handshaking ─AUTH…PING ok→ ready
///                      │                     │                   │                      │
///                      │ lookup failed       └── context lost (error, our drop, timeout) ┘
///                      │ or timed out                       ↓
///                      └──────────────────→ waiting ─backoff elapsed→ discovering …
///                                                                   any ─close→ closed
///
/// Discovering finds the address off the loop (a host name resolved again, or Sentinel asked
/// again, on every reconnect). Each lookup has an attempt number, so a late answer to a lookup
/// that already timed out is ignored.
public struct RedisConnectionStateMachine: Sendable {
    public enum State: Equatable, Sendable {
        case idle
        /// A lookup (name resolution or Sentinel) is running off the loop; no context yet.
        case discovering(attempt: Int, deadline: UInt64)
        /// A hiredis context exists; the TCP connect is in progress.
        case connecting(deadline: UInt64)
        /// Connected; AUTH, SELECT, SCRIPT LOAD and PING are in flight. Nothing else is sent.
        case handshaking(deadline: UInt64)
        case ready
        /// No context; a reconnect is scheduled.
        case waiting
        case closed
    }

    public enum Action: Equatable, Sendable {
        case none
        /// Look the address up off the loop and report it with `addressFound(attempt:)`.
        case discover(attempt: Int)
        /// Create a hiredis context and start a non-blocking connect.
        case connect
        /// Send the handshake commands.
        case handshake
        /// Commands may flow; tell observers.
        case becomeReady
        /// Free the context now (never from inside a hiredis callback); its pending commands
        /// fail with this error.
        case drop(RedisError)
        /// Schedule `reconnectDue` after this delay.
        case reconnect(afterMilliseconds: Int)
        /// Close gracefully: pending replies still arrive, then hiredis frees the context.
        case disconnect
    }

    public private(set) var state = State.idle
    public private(set) var backoff: Backoff
    let connectTimeout: UInt64
    let commandTimeout: UInt64
    let discoveryTimeout: UInt64
    private var attempts = 0

    /// Timeouts in nanoseconds, in the same clock as the `now` values passed in.
    public init(connectTimeout: UInt64, commandTimeout: UInt64, discoveryTimeout: UInt64? = nil, backoff: Backoff = Backoff()) {
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

    /// hiredis freed the context (connect failure, I/O error, server close, or our own drop), or
    /// no context could be created at all.
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
