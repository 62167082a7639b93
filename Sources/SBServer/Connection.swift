import SBCore
import Synchronization
import SBEventLoop
import SBHTTP
import SBWebSocket
import Logging

/// One accepted socket, HTTP first and perhaps WebSocket after an upgrade. Confined to its
/// loop. Holds no buffers while idle: bytes are read into the loop's shared buffer and only an
/// incomplete request or frame is kept by the parser.
final class Connection: IOHandler {
    enum Mode {
        case http(HTTPRequestParser)
        case webSocket(WebSocketReader, any WebSocketHandler)
        /// Our side is done: discard input until EOF or the deadline, then close.
        case lingering
    }

    let id: UInt64
    let fd: Int32
    let peer: String
    unowned let server: LoopServer
    var registration: Registration?
    var proto: Mode
    var writeQueue = WriteQueue()
    var inFlushList = false
    var closed = false
    /// Close once the write queue drains (after an error response or a close frame).
    var closeAfterFlush = false
    var readPaused = false
    var writeArmed = false

    // HTTP state.
    var awaitingResponse = false
    var processingHTTP = false
    var requestStartedAt: UInt64 = 0
    var lastActivity: UInt64

    // WebSocket state.
    var closeSentAt: UInt64 = 0
    var closeReceived = false
    var lastHeard: UInt64 = 0
    var cutOff = false
    /// Set by `notifyWhenDrained`: the handler wants to hear when the queue is this small.
    var drainWatermark: Int?

    init(id: UInt64, fd: Int32, peer: String, server: LoopServer) {
        self.id = id
        self.fd = fd
        self.peer = peer
        self.server = server
        self.proto = .http(HTTPRequestParser(limits: server.configuration.httpLimits))
        self.lastActivity = MonotonicClock.now()
    }

    var isWebSocket: Bool {
        if case .webSocket = proto { return true }
        return false
    }

    var loop: EventLoop { server.loop }
    var logger: Logger { server.logger }

    // MARK: Readiness

    func handleIO(_ events: IOEvents) {
        if events.contains(.writable) {
            flush()
        }
        if !closed, events.contains(.readable) || events.contains(.hangup) {
            readAvailable()
        }
    }

    /// Reads until the socket is empty, or a fairness cap, feeding whichever parser is active.
    private func readAvailable() {
        let buffer = loop.readBuffer
        var rounds = 0
        while !closed, !readPaused, rounds < 4 {
            rounds += 1
            let result: IOResult
            do {
                result = try SocketIO.read(fd: fd, into: buffer)
            } catch {
                close()
                return
            }
            switch result {
            case .wouldBlock:
                return
            case .eof:
                peerClosed()
                return
            case .processed(let n):
                lastActivity = MonotonicClock.now()
                received(UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
                if n < buffer.count { return }
            }
        }
    }

    private func received(_ bytes: UnsafeRawBufferPointer) {
        switch proto {
        case .http(var parser):
            if parser.isIdle { requestStartedAt = lastActivity }
            proto = .lingering  // release our reference so the parser mutates in place
            parser.feed(bytes)
            proto = .http(parser)
            processHTTP()
        case .webSocket(var reader, let handler):
            lastHeard = lastActivity
            proto = .lingering
            reader.feed(bytes)
            proto = .webSocket(reader, handler)
            processWebSocket()
        case .lingering:
            break
        }
    }

    private func peerClosed() {
        switch proto {
        case .webSocket:
            // EOF without a close frame: nothing more can be sent.
            close()
        case .http:
            // A half-closed client may still wait for responses already in flight.
            if awaitingResponse || !writeQueue.isEmpty {
                closeAfterFlush = true
                pauseReading()
            } else {
                close()
            }
        case .lingering:
            close()
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

    /// Writes what the socket takes now; arms EPOLLOUT only if bytes remain.
    func flush() {
        guard !closed else { return }
        switch writeQueue.flush(fd: fd) {
        case .failed:
            close()
        case .pending:
            if !writeArmed {
                writeArmed = true
                updateInterest()
            }
            if drainWatermark != nil { reportDrainedIfBelowWatermark() }
        case .drained:
            if writeArmed {
                writeArmed = false
                updateInterest()
            }
            if drainWatermark != nil { reportDrainedIfBelowWatermark() }
            if closeAfterFlush, !closed { finishAfterFlush() }
        }
    }

    private func finishAfterFlush() {
        switch proto {
        case .webSocket where !closeReceived:
            // We sent a close frame: wait (bounded by the sweep) for the peer's close.
            return
        case .http:
            // Half-close and drain what the client still sends, so the response is not lost
            // to a RST caused by unread request bytes.
            SocketIO.shutdownWrite(fd: fd)
            proto = .lingering
            closeAfterFlush = false
            requestStartedAt = MonotonicClock.now()
            resumeReading()
        default:
            close()
        }
    }

    func pauseReading() {
        guard !readPaused else { return }
        readPaused = true
        updateInterest()
    }

    func resumeReading() {
        guard readPaused else { return }
        readPaused = false
        updateInterest()
    }

    private func updateInterest() {
        guard let registration, !closed else { return }
        var interest: IOEvents = []
        if !readPaused { interest.insert(.readable) }
        if writeArmed { interest.insert(.writable) }
        loop.setInterest(interest, for: registration)
    }

    // MARK: Closing

    func close() {
        guard !closed else { return }
        closed = true
        if let registration { loop.deregister(registration) }
        registration = nil
        SocketIO.close(fd: fd)
        writeQueue.removeAll()
        server.forget(self)
        if case .webSocket(_, let handler) = proto {
            server.owner.openWebSockets.subtract(1, ordering: .relaxed)
            proto = .lingering
            handler.closed(self)
        }
        proto = .lingering
    }

    // MARK: Timers

    func checkTimeouts(now: UInt64) {
        let config = server.configuration
        switch proto {
        case .http(let parser):
            if !parser.isIdle, !awaitingResponse,
               now &- requestStartedAt > UInt64(config.headerTimeoutSeconds) * 1_000_000_000 {
                respondWithError(status: 408, message: "request not received in time")
            } else if parser.isIdle, !awaitingResponse, writeQueue.isEmpty,
                      now &- lastActivity > UInt64(config.idleTimeoutSeconds) * 1_000_000_000 {
                close()
            }
        case .webSocket:
            if closeSentAt != 0, now &- closeSentAt > UInt64(config.closeHandshakeTimeoutSeconds) * 1_000_000_000 {
                close()
            }
        case .lingering:
            if now &- requestStartedAt > 2_000_000_000 { close() }
        }
    }

    /// Shutdown: idle HTTP connections close now, busy ones after their response; WebSockets
    /// get a close frame.
    func shutdownGracefully(code: UInt16, reason: String) {
        switch proto {
        case .http(let parser):
            if awaitingResponse {
                return  // finishResponse sees `draining` and closes after this response
            }
            if parser.isIdle && writeQueue.isEmpty {
                close()
            } else if !parser.isIdle {
                return  // a request is arriving: answer it, then close (checked when it completes)
            } else {
                closeAfterFlush = true
                server.scheduleFlush(self)
            }
        case .webSocket:
            close(code: code, reason: reason)
        case .lingering:
            close()
        }
    }
}
