public import SBEventLoop

/// The TLS side of one connection as a value (events in, decisions out, clock passed in). The
/// handler (`TLSSession`) makes the OpenSSL calls and reports what each one said as an
/// `Outcome`; this decides what that means for the connection.
///
///     handshaking ─done→ open ─our output ends→ outputClosed ─close→ closed
///       │  ↑ want read / want write (wait for that readiness)   (reads go on until EOF)
///       └─ failure, EOF, deadline → closed (counted by reason)
///
/// Rules it enforces: nothing but the handshake runs until it completes; a handshake has a
/// deadline; while handshaking the socket interest is whatever OpenSSL waits for; once open
/// the connection decides, plus writability while a read waits for it (TLS may have to send
/// before it can read on); a close_notify is sent at most once and nothing is written after
/// it; a write that waits for input (renegotiation, which is off) is a failure, never a spin.
public struct TLSStateMachine: Sendable {
    public enum Wait: Equatable, Sendable {
        case readable
        case writable
    }

    public enum State: Equatable, Sendable {
        case handshaking(deadline: UInt64, waitingFor: Wait)
        case open(readWaitsForWritable: Bool)
        /// Our close_notify is out: no more writes; input is read (and discarded above) until EOF.
        case outputClosed
        case closed
    }

    /// What one OpenSSL call reported (`SSL_get_error`, classified by the handler).
    public enum Outcome: Equatable, Sendable {
        case done
        case wantRead
        case wantWrite
        /// close_notify, EOF or a reset.
        case peerClosed
        case failed(TLSHandshakeFailure)
    }

    public enum HandshakeAction: Equatable, Sendable {
        /// Keep waiting (for `interest`).
        case wait
        /// Done: the connection may read and write application data.
        case established
        /// Count, log (rate-limited) and close.
        case fail(TLSHandshakeFailure)
    }

    public enum ReadVerdict: Equatable, Sendable {
        case data
        case wait
        case endOfInput
        case fail
    }

    public enum WriteVerdict: Equatable, Sendable {
        case wrote
        case wait
        case fail
    }

    public private(set) var state: State

    /// A server session first waits for the ClientHello (readable); a client session (`client`)
    /// first sends its own (writable).
    public init(now: UInt64, handshakeTimeout: UInt64, client: Bool = false) {
        state = .handshaking(deadline: now &+ handshakeTimeout, waitingFor: client ? .writable : .readable)
    }

    public var isEstablished: Bool {
        switch state {
        case .open, .outputClosed: true
        case .handshaking, .closed: false
        }
    }

    /// The epoll interest for the socket, given what the connection itself wants.
    public func interest(connection: IOEvents) -> IOEvents {
        switch state {
        case .handshaking(_, .readable): .readable
        case .handshaking(_, .writable): .writable
        case .open(readWaitsForWritable: true): connection.union(.writable)
        case .open, .outputClosed, .closed: connection
        }
    }

    /// The readiness the connection should act on: a read that waits for writability is
    /// retried when the socket becomes writable.
    public func readiness(_ events: IOEvents) -> IOEvents {
        if state == .open(readWaitsForWritable: true), events.contains(.writable) { return events.union(.readable) }
        return events
    }

    // MARK: Handshake

    public mutating func handshakeStepped(_ outcome: Outcome) -> HandshakeAction {
        switch state {
        case .handshaking: break
        case .open, .outputClosed: return .established
        case .closed: return .wait  // already failed and closing: nothing more to count
        }
        guard case .handshaking(let deadline, _) = state else { return .wait }
        switch outcome {
        case .done:
            state = .open(readWaitsForWritable: false)
            return .established
        case .wantRead:
            state = .handshaking(deadline: deadline, waitingFor: .readable)
            return .wait
        case .wantWrite:
            state = .handshaking(deadline: deadline, waitingFor: .writable)
            return .wait
        case .peerClosed:
            state = .closed
            return .fail(.closed)
        case .failed(let reason):
            state = .closed
            return .fail(reason)
        }
    }

    /// Called periodically: a handshake past its deadline fails with `.timeout`.
    public mutating func timerFired(now: UInt64) -> HandshakeAction? {
        guard case .handshaking(let deadline, _) = state, now >= deadline else { return nil }
        state = .closed
        return .fail(.timeout)
    }

    // MARK: Application data

    public mutating func readStepped(_ outcome: Outcome) -> ReadVerdict {
        switch state {
        case .handshaking, .closed:
            return .fail
        case .open, .outputClosed:
            switch outcome {
            case .done:
                if case .open = state { state = .open(readWaitsForWritable: false) }
                return .data
            case .wantRead:
                if case .open = state { state = .open(readWaitsForWritable: false) }
                return .wait
            case .wantWrite:
                if case .open = state { state = .open(readWaitsForWritable: true) }
                return .wait
            case .peerClosed:
                return .endOfInput
            case .failed:
                state = .closed
                return .fail
            }
        }
    }

    public mutating func writeStepped(_ outcome: Outcome) -> WriteVerdict {
        guard case .open = state else {
            state = .closed
            return .fail
        }
        switch outcome {
        case .done:
            return .wrote
        case .wantWrite:
            return .wait
        case .wantRead, .peerClosed, .failed:
            // wantRead: only renegotiation makes a write wait for input, and it is off.
            state = .closed
            return .fail
        }
    }

    // MARK: Ending

    /// Our output ends (a response sent with `Connection: close`): true when the handler
    /// should send close_notify now.
    public mutating func outputEnding() -> Bool {
        guard case .open = state else { return false }
        state = .outputClosed
        return true
    }

    /// The connection closes: true when a best-effort close_notify is due (an established
    /// session that has not sent one and did not fail).
    public mutating func closing() -> Bool {
        defer { state = .closed }
        if case .open = state { return true }
        return false
    }
}
