/// The lifecycle of one Redis connection as a value (lesson 8): each event returns the one
/// thing the driver (`RedisConnection`) must do next. Times are passed in, so every transition,
/// timeout and backoff step is tested without a socket or a clock.
///
///     idle ─start→ connecting ─TCP up→ handshaking ─AUTH/SELECT/SCRIPT LOAD ok→ ready
///                      │                   │                                     │
///                      └──── context lost (error, our drop, timeout) ───────────┘
///                                          ↓
///                     waiting ─backoff elapsed→ connecting …        any ─close→ closed
public struct RedisConnectionStateMachine: Sendable {
    public enum State: Equatable, Sendable {
        case idle
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

    /// Timeouts in nanoseconds, in the same clock as the `now` values passed in.
    public init(connectTimeout: UInt64, commandTimeout: UInt64, backoff: Backoff = Backoff()) {
        self.connectTimeout = connectTimeout
        self.commandTimeout = commandTimeout
        self.backoff = backoff
    }

    public var isReady: Bool { state == .ready }

    public mutating func start(now: UInt64) -> Action {
        guard state == .idle else { return .none }
        state = .connecting(deadline: now &+ connectTimeout)
        return .connect
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
        case .idle, .waiting, .closed:
            return .none
        }
    }

    public mutating func reconnectDue(now: UInt64) -> Action {
        guard state == .waiting else { return .none }
        state = .connecting(deadline: now &+ connectTimeout)
        return .connect
    }

    /// Called when the deadline from `nextDeadline` passes. `oldestCommand` is the send time of
    /// the oldest command still waiting for its reply.
    public func tick(now: UInt64, oldestCommand: UInt64?) -> Action {
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
        case .connecting(let d), .handshaking(let d): deadline = d
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
        case .idle, .waiting, .closed: hadContext = false
        }
        state = .closed
        return hadContext ? .disconnect : .none
    }
}
