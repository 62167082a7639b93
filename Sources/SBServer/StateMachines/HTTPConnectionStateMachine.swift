/// The lifecycle of one HTTP/1.1 connection as a value (lesson 8): events in, actions out, the
/// clock passed in. The connection's `HTTPDriver` holds it beside the request parser, and hands
/// it to a `StreamDriver` when a response streams; the connection performs the actions.
///
///     idle ─bytes→ receiving ─request→ responding ─response, keep-alive→ idle …
///       │              │                  └─response, close→ closingAfterFlush ─drained→ lingering
///       │              └─parse error / 408→ closingAfterFlush           (peer at EOF: closed)
///       └─idle timeout / shutdown→ closed              lingering ─EOF or deadline→ closed
///
///     responding ─stream head→ streaming ─EOF, socket error, live send over the limit→ closed
///                                  └─app ends it / shutdown→ closingAfterFlush …
///
/// Rules it enforces: one request at a time, so responses leave in order; nothing after a
/// `Connection: close` request is parsed; reads stop while the application answers, while the
/// send queue is over its limit (until it falls to the low-water mark) and after EOF, so a
/// paused or half-closed socket is never polled for input it cannot take.
///
/// A streaming response (Server-Sent Events) is the connection's last: nothing after it is
/// parsed (input is read only to see EOF, and discarded), a heartbeat falls due every
/// `streamHeartbeat`, live bytes over the send-queue limit cut the client off (as for a
/// WebSocket), paced bytes wait for a drain notification instead, and shutdown ends it.
public struct HTTPConnectionStateMachine: Sendable {
    public enum State: Equatable, Sendable {
        /// Between requests, since the last response (idle timeout).
        case idle(since: UInt64)
        /// Part of a request has arrived (header/request timeout from `since`).
        case receiving(since: UInt64)
        /// A request is with the application; `closeAfter` when its response is the last.
        case responding(closeAfter: Bool)
        /// The last response is queued: once written, shut our side.
        case closingAfterFlush(since: UInt64)
        /// Our side is shut: discard input until EOF or the deadline, so unread request bytes
        /// do not turn into a RST that destroys the response.
        case lingering(deadline: UInt64)
        /// A streaming response is open; the next heartbeat is due at `heartbeatDue`.
        case streaming(heartbeatDue: UInt64)
        case closed
    }

    /// What the connection does after one event: one per event, the event's data inside.
    public enum Action: Equatable, Sendable {
        case nothing
        case sendContinue
        /// Hand the request just parsed to the application.
        case dispatch
        /// Encode the application's response with this keep-alive decision and queue it; then
        /// look at the next buffered request (keep-alive) or flush (the response is the last).
        case writeResponse(keepAlive: Bool)
        /// Queue an error response (always `Connection: close`) and flush it.
        case writeError(status: Int, message: String)
        /// Queue the streaming response's head and flush it; `open`: hand the stream to its
        /// handler (false: the connection closes after the head).
        case writeStreamHead(open: Bool)
        /// Look at the next buffered request.
        case parseNext
        case flush
        case shutdownWrite
        case close
        /// Ask the stream's handler for a heartbeat.
        case sendHeartbeat
        /// Call the stream handler's `sendQueueDrained` on the next loop turn.
        case notifyDrained
        /// Queue the stream bytes the caller is sending.
        case send
        /// A live send over the limit: count it, drop everything still queued (the client
        /// will not read it) and close. Performed after `cutOff()` recorded it.
        case cutOff
    }

    public struct Configuration: Sendable {
        public var headerTimeout: UInt64
        public var idleTimeout: UInt64
        public var lingerTimeout: UInt64
        /// Above this many unsent bytes, stop reading and parsing requests…
        public var sendQueueLimit: Int
        /// …until the queue is at or below this.
        public var lowWater: Int
        /// Interval between a stream's heartbeats; 0 = none.
        public var streamHeartbeat: UInt64

        /// Times in nanoseconds, in the clock of the `now` values passed to the events.
        public init(headerTimeout: UInt64, idleTimeout: UInt64, lingerTimeout: UInt64 = 2_000_000_000,
                    sendQueueLimit: Int, lowWater: Int? = nil, streamHeartbeat: UInt64 = 0) {
            self.headerTimeout = headerTimeout
            self.idleTimeout = idleTimeout
            self.lingerTimeout = lingerTimeout
            self.sendQueueLimit = sendQueueLimit
            self.lowWater = lowWater ?? sendQueueLimit / 4
            self.streamHeartbeat = streamHeartbeat
        }
    }

    public private(set) var state: State
    /// The client sent EOF (half-close): answer what is in flight, then close.
    public private(set) var peerClosed = false
    public private(set) var draining = false
    /// Reads and parsing are stopped because the send queue is over its limit.
    public private(set) var backpressured = false
    private var queuedBytes = 0
    /// Low-water mark a stream's paced sender waits for, if any.
    public private(set) var drainWatch: Int?
    let configuration: Configuration

    public init(configuration: Configuration, now: UInt64) {
        self.configuration = configuration
        state = .idle(since: now)
    }

    /// True when the driver may pull the next request out of the parser.
    public var mayParse: Bool {
        switch state {
        case .idle, .receiving: !backpressured
        default: false
        }
    }

    /// True when input is discarded (our side is done).
    public var isLingering: Bool {
        if case .lingering = state { return true }
        return false
    }

    /// Whether the socket should be read, in this state: not while the application answers,
    /// while the send queue is over its limit or after EOF, so a paused or half-closed socket
    /// is never polled for input it cannot take. The connection reads it after every event.
    public var wantsRead: Bool {
        switch state {
        case .idle, .receiving: !backpressured && !peerClosed
        case .lingering, .streaming: !peerClosed
        case .responding, .closingAfterFlush, .closed: false
        }
    }

    /// When `timerFired` next has something to do, or nil.
    public var deadline: UInt64? {
        switch state {
        case .idle(let since): since &+ configuration.idleTimeout
        case .receiving(let since): since &+ configuration.headerTimeout
        case .closingAfterFlush(let since): since &+ configuration.idleTimeout
        case .lingering(let deadline): deadline
        case .streaming(let due): configuration.streamHeartbeat > 0 ? due : nil
        case .responding, .closed: nil
        }
    }

    public var isStreaming: Bool {
        if case .streaming = state { return true }
        return false
    }

    // MARK: Input

    /// The parser saw a complete request head.
    public mutating func headReceived(expectsContinue: Bool) -> Action {
        mayParse && expectsContinue ? .sendContinue : .nothing
    }

    /// The parser has a complete request.
    public mutating func requestReceived(keepAlive: Bool) -> Action {
        guard mayParse else { return .nothing }
        state = .responding(closeAfter: !keepAlive || draining)
        return .dispatch
    }

    /// The parser needs more bytes; `midRequest` when part of a request is buffered.
    public mutating func inputNeeded(midRequest: Bool, now: UInt64) -> Action {
        switch state {
        case .idle where peerClosed, .receiving where peerClosed:
            // Everything complete has been answered; what is left can never finish.
            state = .closingAfterFlush(since: now)
            return .flush
        case .idle where midRequest:
            state = .receiving(since: now)
        case .receiving where !midRequest:
            state = .idle(since: now)
        default:
            break
        }
        return .nothing
    }

    /// The request could not be parsed (or was refused before dispatch): answer and close.
    public mutating func requestFailed(status: Int, message: String, now: UInt64) -> Action {
        switch state {
        case .idle, .receiving, .responding:
            state = .closingAfterFlush(since: now)
            return .writeError(status: status, message: message)
        case .closingAfterFlush, .lingering, .streaming, .closed:
            return .nothing
        }
    }

    /// Read returned EOF: the client half-closed (or closed).
    public mutating func peerClosedInput() -> Action {
        peerClosed = true
        switch state {
        case .idle, .receiving:
            return .parseNext
        case .lingering, .streaming:
            // A stream's client never half-closes to wait for more: EOF means it is gone.
            state = .closed
            return .close
        case .responding, .closingAfterFlush, .closed:
            return .nothing
        }
    }

    /// The socket reported an error or a full hang-up: nothing more can be sent.
    public mutating func connectionFailed() -> Action {
        guard state != .closed else { return .nothing }
        state = .closed
        return .close
    }

    // MARK: Output

    /// The application answered the request in flight.
    public mutating func responseReady(now: UInt64, forceClose: Bool = false) -> Action {
        guard case .responding(let closeAfter) = state else { return .nothing }
        if closeAfter || forceClose || draining {
            state = .closingAfterFlush(since: now)
            return .writeResponse(keepAlive: false)
        }
        state = .idle(since: now)
        return .writeResponse(keepAlive: true)
    }

    /// The application answers the request in flight with a streaming response. It is the
    /// connection's last; while draining, or when the client already sent EOF, the head is
    /// written and the connection closes after it.
    public mutating func streamReady(now: UInt64) -> Action {
        guard case .responding = state else { return .nothing }
        if draining || peerClosed {
            state = .closingAfterFlush(since: now)
            return .writeStreamHead(open: false)
        }
        state = .streaming(heartbeatDue: now &+ configuration.streamHeartbeat)
        return .writeStreamHead(open: true)
    }

    /// A live stream message with `queued` bytes already unsent: `.send` while streaming within
    /// the limit; over it, `.cutOff` (the client is cut off, as a WebSocket is: it can never
    /// slow the others or grow our memory), which the caller records with `cutOff()`. Does not
    /// change the machine: it runs once per delivery and the steady state writes nothing.
    public func liveSend(queued: Int) -> Action {
        guard isStreaming else { return .nothing }
        return queued <= configuration.sendQueueLimit ? .send : .cutOff
    }

    /// Records the cut-off `liveSend` decided.
    public mutating func cutOff() {
        guard isStreaming else { return }
        state = .closed
        drainWatch = nil
    }

    /// Bytes the server chose to send (a replay page): paced by `notifyWhenDrained`, never
    /// cut off.
    public func pacedSend() -> Action {
        isStreaming ? .send : .nothing
    }

    /// The stream's paced sender wants one `sendQueueDrained` once `queued` is at or below
    /// `lowWater`.
    public mutating func notifyWhenDrained(below lowWater: Int, queued: Int) -> Action {
        guard isStreaming else { return .nothing }
        if queued <= lowWater {
            drainWatch = nil
            return .notifyDrained
        }
        drainWatch = lowWater
        return .nothing
    }

    /// The application ends its stream: its last bytes are written, then the connection closes.
    public mutating func endStream(now: UInt64) -> Action {
        guard isStreaming else { return .nothing }
        state = .closingAfterFlush(since: now)
        drainWatch = nil
        return .flush
    }

    /// Unsent bytes after queueing or writing. Drives backpressure and the final close.
    public mutating func queueChanged(bytes: Int, now: UInt64) -> Action {
        queuedBytes = bytes
        if isStreaming {
            guard let lowWater = drainWatch, bytes <= lowWater else { return .nothing }
            drainWatch = nil
            return .notifyDrained
        }
        var action = Action.nothing
        if !backpressured, bytes > configuration.sendQueueLimit {
            backpressured = true
        } else if backpressured, bytes <= configuration.lowWater {
            backpressured = false
            if mayParse { action = .parseNext }
        }
        // Parsing resumes only in `idle` or `receiving`, so the two never coincide.
        if bytes == 0, case .closingAfterFlush = state {
            if peerClosed {
                state = .closed
                return .close
            }
            state = .lingering(deadline: now &+ configuration.lingerTimeout)
            return .shutdownWrite
        }
        return action
    }

    // MARK: Time and shutdown

    public mutating func timerFired(now: UInt64) -> Action {
        guard let deadline, now >= deadline else { return .nothing }
        switch state {
        case .receiving:
            return requestFailed(status: 408, message: "request not received in time", now: now)
        case .idle, .closingAfterFlush, .lingering:
            // Idle keep-alive, or a client that will not take its last response or EOF.
            state = .closed
            return .close
        case .streaming:
            state = .streaming(heartbeatDue: now &+ configuration.streamHeartbeat)
            return .sendHeartbeat
        case .responding, .closed:
            return .nothing
        }
    }

    /// SIGTERM: idle connections close now; a request arriving or in flight is answered with
    /// `Connection: close`, then the connection closes.
    public mutating func shutdownRequested(now: UInt64) -> Action {
        draining = true
        switch state {
        case .idle where queuedBytes == 0, .lingering:
            state = .closed
            return .close
        case .idle:
            state = .closingAfterFlush(since: now)
            return .flush
        case .responding:
            state = .responding(closeAfter: true)
            return .nothing
        case .streaming:
            // The stream ends; its client reconnects (to an instance that is not draining).
            state = .closingAfterFlush(since: now)
            drainWatch = nil
            return .flush
        case .receiving, .closingAfterFlush, .closed:
            return .nothing
        }
    }
}
