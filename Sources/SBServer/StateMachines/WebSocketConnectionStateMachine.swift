/// The lifecycle of one WebSocket connection as a value (lesson 8): events in, actions out, the
/// clock passed in. The connection's `WebSocketDriver` holds it and performs the actions; the
/// handler sees messages only while open.
///
///     open ─we close (app, shutdown)→ closeSent ─peer's close / timeout→ closing → closed
///       ├─peer's close → (echo it) closing ─drained / timeout→ closed
///       ├─protocol error → (close frame with its code) closing
///       ├─live send over SEND_QUEUE_BYTES → cutOff: the frame in flight is finished, the rest
///       │   of the queue dropped, close 1008 queued; the peer's close or EOF → closed as
///       │   usual; a peer that reads nothing for the close timeout → aborted (RST)
///       └─EOF, socket error, two silent heartbeats → closed
///
/// Replay frames (sent by the server at its own pace) never count against the cut-off; their
/// sender asks to hear when the queue falls to a low-water mark instead.
public struct WebSocketConnectionStateMachine: Sendable {
    public enum State: Equatable, Sendable {
        case open
        /// Our close frame is queued; waiting for the peer's (until `since` + close timeout).
        case closeSent(since: UInt64)
        /// Both closes are settled (or none is awaited): close once our bytes are written.
        case closing(since: UInt64)
        /// Cut off over SEND_QUEUE_BYTES: our 1008 is queued behind the frame in flight; waiting
        /// for the peer to read it and answer (until `since` + close timeout, then abort).
        case cutOff(since: UInt64)
        case closed
    }

    /// What the connection does after one event: one per event, the event's data inside.
    public enum Action: Equatable, Sendable {
        case nothing
        /// Give the message to the handler.
        case deliver
        case sendPong
        case sendPing
        /// Queue a close frame and write it now; nil code = an empty close body (echoing a
        /// close without code).
        case sendClose(code: UInt16?, reason: String)
        /// Queue the frame the caller is sending.
        case send
        /// A live send over the limit: count it, drop everything still queued but the frame
        /// being written (a cut-off client will not read it; a frame cut in the middle would
        /// corrupt the stream its close frame follows), queue close 1008 and write it now.
        /// Performed after `cutOff(now:)` recorded it.
        case cutOff
        /// Call the handler's `sendQueueDrained` on the next loop turn.
        case notifyDrained
        /// Write what is queued now (reading has stopped: the close is settled).
        case flush
        case close
        /// Close at once, discarding what the kernel still holds for the peer (SO_LINGER 0:
        /// a RST), so a peer that reads nothing cannot keep the socket's send buffer.
        case abort
    }

    /// The server's settings, one instance shared by all its connections (a reference, not 24
    /// bytes copied into every connection's machine: idle memory).
    public final class Configuration: Sendable {
        public let closeTimeout: UInt64
        /// A client heard from less recently than this at a heartbeat is dropped.
        public let silenceLimit: UInt64
        public let sendQueueLimit: Int

        public init(closeTimeout: UInt64, silenceLimit: UInt64, sendQueueLimit: Int) {
            self.closeTimeout = closeTimeout
            self.silenceLimit = silenceLimit
            self.sendQueueLimit = sendQueueLimit
        }
    }

    // Widest first, the padded enums last: 41 bytes per connection.
    public private(set) var lastHeard: UInt64
    let configuration: Configuration
    /// Low-water mark a replay sender waits for, if any.
    public private(set) var drainWatch: Int?
    public private(set) var state = State.open

    public init(configuration: Configuration, now: UInt64) {
        self.configuration = configuration
        lastHeard = now
    }

    /// Whether the socket should be read: until the close is settled (a cut-off client stays
    /// readable, so no unread input turns our close into a reset).
    public var wantsRead: Bool {
        switch state {
        case .open, .closeSent, .cutOff: true
        case .closing, .closed: false
        }
    }

    /// When `timerFired` next has something to do, or nil (heartbeats have their own interval).
    public var deadline: UInt64? {
        switch state {
        case .closeSent(let since), .closing(let since), .cutOff(let since): since &+ configuration.closeTimeout
        case .open, .closed: nil
        }
    }

    // MARK: Input

    /// Any bytes arrived: the peer is alive (this is what answers a ping in practice).
    public mutating func bytesReceived(now: UInt64) {
        lastHeard = now
    }

    /// A text or binary message is complete.
    public func messageReceived() -> Action {
        state == .open ? .deliver : .nothing
    }

    public func pingReceived() -> Action {
        state == .open ? .sendPong : .nothing
    }

    public mutating func pongReceived(now: UInt64) {
        lastHeard = now
    }

    /// The peer's close frame. We echo its code (RFC 6455 §5.5.1) unless we already sent ours.
    public mutating func closeReceived(code: UInt16?, now: UInt64) -> Action {
        switch state {
        case .open:
            state = .closing(since: now)
            return .sendClose(code: code, reason: "")
        case .closeSent, .cutOff:
            state = .closing(since: now)
            return .flush
        case .closing, .closed:
            return .nothing
        }
    }

    /// The frame reader failed (bad frame, bad UTF-8, too big): close with its code, not
    /// waiting for the peer's answer since nothing more will be read.
    public mutating func protocolError(code: UInt16, reason: String, now: UInt64) -> Action {
        switch state {
        case .open:
            state = .closing(since: now)
            return .sendClose(code: code, reason: reason)
        case .closeSent, .cutOff:
            state = .closing(since: now)
            return .flush
        case .closing, .closed:
            return .nothing
        }
    }

    /// EOF or a socket error: nothing more can be exchanged.
    public mutating func peerGone() -> Action {
        guard state != .closed else { return .nothing }
        state = .closed
        return .close
    }

    // MARK: Output

    /// The application (or shutdown, with 1001) starts the close handshake.
    public mutating func closeRequested(code: UInt16, reason: String, now: UInt64) -> Action {
        guard state == .open else { return .nothing }
        state = .closeSent(since: now)
        return .sendClose(code: code, reason: reason)
    }

    /// A live message for this client, with `queued` bytes already unsent. Over the limit, the
    /// client is cut off: it can never slow the others or grow our memory. (Checked before
    /// queueing, like uWS's maxBackpressure, so one message larger than the budget still goes to
    /// a client that keeps up.) Does not change the machine: it runs once per delivery, and the
    /// steady state (`.send`) writes nothing; `.cutOff` is recorded with `cutOff(now:)`.
    public func liveSend(queued: Int) -> Action {
        guard state == .open else { return .nothing }
        return queued <= configuration.sendQueueLimit ? .send : .cutOff
    }

    /// Records the cut-off `liveSend` decided. The client gets what a client library can
    /// report: the frame in flight finished, then close 1008 with its reason. It stays readable
    /// (its messages are read and ignored) until it answers the close or goes; one that has not
    /// by the close timeout is aborted.
    public mutating func cutOff(now: UInt64) {
        guard state == .open else { return }
        state = .cutOff(since: now)
    }

    public static let cutOffReason = "send queue limit exceeded"

    /// A frame the server chose to send (a replay page): paced by `notifyWhenDrained`, never
    /// cut off.
    public func replaySend() -> Action {
        state == .open ? .send : .nothing
    }

    /// The sender wants one `sendQueueDrained` once `queued` is at or below `lowWater`.
    public mutating func notifyWhenDrained(below lowWater: Int, queued: Int) -> Action {
        guard state == .open else { return .nothing }
        if queued <= lowWater {
            drainWatch = nil
            return .notifyDrained
        }
        drainWatch = lowWater
        return .nothing
    }

    /// Whether `queueChanged` can have anything to say: a drain watch, or a close waiting for
    /// the queue. Checked per flush so the steady state skips the call.
    public var watchesQueue: Bool { drainWatch != nil || state != .open }

    /// Unsent bytes after a write.
    public mutating func queueChanged(bytes: Int) -> Action {
        if state == .open, let lowWater = drainWatch, bytes <= lowWater {
            drainWatch = nil
            return .notifyDrained
        }
        if bytes == 0, case .closing = state {
            state = .closed
            return .close
        }
        return .nothing
    }

    // MARK: Time and shutdown

    /// The heartbeat interval elapsed: ping, or drop a client silent for too long.
    public mutating func heartbeat(now: UInt64) -> Action {
        guard state == .open else { return .nothing }
        if now &- lastHeard > configuration.silenceLimit {
            state = .closed
            return .close
        }
        return .sendPing
    }

    /// A close handshake (ours, or our final bytes to a peer that does not read) timed out.
    public mutating func timerFired(now: UInt64) -> Action {
        guard let deadline, now >= deadline else { return .nothing }
        let cutOff = if case .cutOff = state { true } else { false }
        state = .closed
        return cutOff ? .abort : .close
    }
}
