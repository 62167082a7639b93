import SBCore
import Synchronization
import SBEventLoop
import SBHTTP
import SBWebSocket
import SBTLS
import Logging

/// One accepted socket, HTTP first and perhaps WebSocket after an upgrade. Confined to its
/// loop. The decisions (when to read, parse, write, shut, close) are made by
/// `HTTPConnectionStateMachine` and `WebSocketConnectionStateMachine`; this class performs
/// them. Holds no buffers while idle: bytes are read into the loop's shared buffer and only an
/// incomplete request or frame is kept by the parser.
final class Connection: IOHandler {
    enum Mode {
        case http(HTTPPhase)
        case webSocket(any WebSocketHandler, WebSocketReader)
        /// A streaming response (Connection+Stream): input is only watched for EOF.
        case stream(HTTPPhase, any StreamHandler)
        case done
    }

    /// What only the HTTP phase needs, in its own allocation: the upgrade releases it, so an
    /// idle WebSocket carries no request parser and no HTTP machine (idle memory per connection).
    final class HTTPPhase {
        var parser: HTTPRequestParser
        var machine: HTTPConnectionStateMachine

        init(parser: HTTPRequestParser, machine: HTTPConnectionStateMachine) {
            self.parser = parser
            self.machine = machine
        }
    }

    // Stored properties in an order that leaves no padding (widest first, bytes last): one
    // Connection per socket, and 48 bytes here are 480 KB per 10,000 idle WebSockets.
    let id: UInt64
    let peer: String
    unowned let server: LoopServer
    /// Set when the listener speaks TLS: every byte in and out goes through it.
    var tls: TLSSession?
    var ws: WebSocketConnectionStateMachine?
    var proto: Mode
    var writeQueue = WriteQueue()
    /// `.none` until registered and after `close`.
    var registration = Registration.none
    let fd: Int32
    /// Index in the loop server's connection list (O(1) removal); -1 when not in it.
    var serverIndex: Int32 = -1
    var inFlushList = false
    var closed = false
    /// Read interest as decided by the state machines; applied to epoll once per entry point
    /// (`syncInterest`), so a pause undone in the same turn costs no system call.
    var wantRead = true
    var writeArmed = false
    var processingHTTP = false
    var drainNotifyPending = false
    /// 0 until permessage-deflate is agreed; then the client's window for our messages
    /// (server_max_window_bits), which bounds the messages we may compress for it.
    var deflateWindowBits: UInt8 = 0

    init(id: UInt64, fd: Int32, peer: String, server: LoopServer, tls: TLSSession? = nil) {
        self.id = id
        self.tls = tls
        self.fd = fd
        self.peer = peer
        self.server = server
        self.proto = .http(HTTPPhase(
            parser: HTTPRequestParser(limits: server.configuration.httpLimits),
            machine: HTTPConnectionStateMachine(configuration: server.httpMachineConfiguration, now: MonotonicClock.now())))
    }

    var isWebSocket: Bool { ws != nil && !closed }

    /// The HTTP phase (also while a streaming response runs), nil once upgraded or closed.
    var http: HTTPPhase? {
        switch proto {
        case .http(let phase), .stream(let phase, _): return phase
        case .webSocket, .done: return nil
        }
    }

    var loop: EventLoop { server.loop }
    var logger: Logger { server.logger }

    // MARK: Readiness

    func handleIO(_ events: IOEvents) {
        guard let events = tlsReadiness(events) else { return syncInterest() }
        if events.contains(.writable) {
            flush()
        }
        if !closed, events.contains(.failed), !wantRead {
            // Error or full hang-up while we are not reading: nothing can be delivered any more,
            // and epoll would report it again on every turn.
            if ws != nil { performWS(ws!.peerGone()) } else if let http { performHTTP(http.machine.connectionFailed()) }
        }
        if !closed, wantRead, events.contains(.readable) || events.contains(.hangup) {
            readAvailable()
        }
        syncInterest()
    }

    /// Reads until the socket is empty, or a fairness cap, feeding whichever parser is active.
    private func readAvailable() {
        let buffer = loop.readBuffer
        var rounds = 0
        while !closed, wantRead, rounds < 4 {
            rounds += 1
            let result: IOResult
            do {
                result = try readInput(into: buffer)
            } catch {
                close()
                return
            }
            switch result {
            case .wouldBlock:
                return
            case .eof:
                if ws != nil { performWS(ws!.peerGone()) } else if let http { performHTTP(http.machine.peerClosedInput()) }
                return
            case .processed(let n):
                received(UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
                if n < buffer.count { return }
            }
        }
    }

    private func received(_ bytes: UnsafeRawBufferPointer) {
        switch proto {
        case .http(let phase):
            if phase.machine.isLingering { return }  // our side is done: discard
            phase.parser.feed(bytes)
            processHTTP()
        case .webSocket(let handler, var reader):
            ws?.bytesReceived(now: MonotonicClock.now())
            proto = .done
            reader.feed(bytes)
            proto = .webSocket(handler, reader)
            processWebSocket()
        case .stream, .done:
            break
        }
    }

    // MARK: Writing

    func enqueue(_ bytes: [UInt8]) {
        guard !closed else { return }
        writeQueue.append(bytes)
        server.scheduleFlush(self)
    }

    func enqueue(_ shared: SharedBytes) {
        guard !closed else { return }
        writeQueue.append(shared)
        server.scheduleFlush(self)
    }

    /// Writes what the socket takes now; arms EPOLLOUT only if bytes remain. Then tells the
    /// state machine how much is left (backpressure, drain notifications, final close).
    func flush() {
        guard !closed else { return }
        let wasArmed = writeArmed
        switch writeQueued() {
        case .failed:
            close()
            return
        case .pending:
            writeArmed = true
        case .drained:
            writeArmed = false
        }
        // A WebSocket in its steady state (open, no drain watch) has nothing to learn from the
        // queue and, unless EPOLLOUT changed, nothing to tell epoll: this runs once per flush of
        // every subscriber.
        if ws == nil || ws!.watchesQueue {
            queueChanged()
            syncInterest()
        } else if writeArmed != wasArmed {
            syncInterest()
        }
    }

    func queueChanged() {
        guard !closed else { return }
        if ws != nil {
            performWS(ws!.queueChanged(bytes: writeQueue.byteCount))
        } else if let http {
            performHTTP(http.machine.queueChanged(bytes: writeQueue.byteCount, now: MonotonicClock.now()))
        }
    }

    /// Applies the read/write interest decided so far; epoll is only touched on a change.
    func syncInterest() {
        guard !closed else { return }
        var interest: IOEvents = []
        if wantRead { interest.insert(.readable) }
        if writeArmed { interest.insert(.writable) }
        loop.setInterest(tls?.machine.interest(connection: interest) ?? interest, for: registration)
    }

    // MARK: Closing

    /// `abortive`: SO_LINGER 0 (a RST; the kernel's send buffer is freed now).
    func close(abortive: Bool = false) {
        guard !closed else { return }
        closed = true
        loop.deregister(registration)
        registration = .none
        tls?.close()
        if abortive { SocketIO.abort(fd: fd) } else { SocketIO.close(fd: fd) }
        writeQueue.removeAll()
        server.forget(self)
        if case .webSocket(let handler, _) = proto {
            server.counters.openWebSockets.subtract(1, ordering: .relaxed)
            proto = .done
            handler.closed(self)
        }
        if case .stream(_, let handler) = proto {
            streamClosed(handler)
        }
        proto = .done
    }

    // MARK: Timers and shutdown

    func checkTimeouts(now: UInt64) {
        tlsTimerFired(now: now)
        if ws != nil {
            performWS(ws!.timerFired(now: now))
        } else if let http {
            performHTTP(http.machine.timerFired(now: now))
        }
        syncInterest()
    }

    /// Shutdown: idle HTTP connections close now, busy ones after their response; WebSockets
    /// get a close frame.
    func shutdownGracefully(code: UInt16, reason: String) {
        if ws != nil {
            performWS(ws!.closeRequested(code: code, reason: reason, now: MonotonicClock.now()))
        } else if let http {
            performHTTP(http.machine.shutdownRequested(now: MonotonicClock.now()))
        }
        syncInterest()
    }
}
