import SBCore
import Synchronization
import SBEventLoop
import SBHTTP
import SBWebSocket
import SBTLS
import Logging

/// One accepted socket: its fd, TLS session, write queue, epoll registration and timers.
/// Confined to its loop. What the bytes mean is its driver's business: HTTP first, then a
/// WebSocket after an upgrade or a streaming response, each swapped in whole (as NIO's
/// upgrader swaps handlers), each with its machine, parser and handler. Holds no buffers while
/// idle: bytes are read into the loop's shared buffer and only an incomplete request or frame
/// is kept by the parser.
final class Connection: IOHandler {
    enum Driver {
        /// Its own allocation: the upgrade releases it, so an idle WebSocket carries no request
        /// parser and no HTTP machine (idle memory per connection).
        case http(HTTPDriver)
        /// Held inline, no allocation of its own: it is what an idle subscriber is made of,
        /// and every delivery reads its machine (idle memory, one pointer less per delivery).
        case webSocket(WebSocketDriver)
        /// A streaming response: input is only watched for EOF.
        case stream(StreamDriver)
        case closed
    }

    // Stored properties in an order that leaves no padding (widest first, bytes last): one
    // Connection per socket, and 48 bytes here are 480 KB per 10,000 idle WebSockets.
    let peer: String
    /// Unowned without the check: the loop server holds every connection it admitted and
    /// outlives it (`Server` keeps its loop servers for the process's life), as `unowned`
    /// assumed; the checked form cost two atomic operations per use, about ten per request.
    unowned(unsafe) let server: LoopServer
    /// Set when the listener speaks TLS: every byte in and out goes through it.
    var tls: TLSSession?
    var driver: Driver
    var writeQueue = WriteQueue()
    /// `.none` until registered and after `close`.
    var registration = Registration.none
    let fd: Int32
    /// Index in the loop server's connection list (O(1) removal); -1 when not in it.
    var serverIndex: Int32 = -1
    var inFlushList = false
    var closed = false
    var writeArmed = false
    var drainNotifyPending = false

    init(fd: Int32, peer: String, server: LoopServer, tls: TLSSession? = nil) {
        self.tls = tls
        self.fd = fd
        self.peer = peer
        self.server = server
        driver = .http(HTTPDriver(
            parser: HTTPRequestParser(limits: server.configuration.httpLimits),
            machine: HTTPConnectionStateMachine(configuration: server.httpMachineConfiguration, now: server.loop.now)))
    }

    var loop: EventLoop { server.loop }
    var logger: Logger { server.logger }

    /// Read interest as the driver's machine decides it; applied to epoll once per entry point
    /// (`syncInterest`), so a pause undone in the same turn costs no system call.
    var wantsRead: Bool {
        switch driver {
        case .http(let http): http.machine.wantsRead
        case .webSocket(let webSocket): webSocket.machine.wantsRead
        case .stream(let stream): stream.machine.wantsRead
        case .closed: false
        }
    }

    // MARK: Readiness

    func handleIO(_ events: IOEvents) {
        guard let events = tlsReadiness(events) else { return syncInterest() }
        if events.contains(.writable) {
            flush()
        }
        if !closed, events.contains(.failed), !wantsRead {
            // Error or full hang-up while we are not reading: nothing can be delivered any more,
            // and epoll would report it again on every turn.
            peerGone(eof: false)
        }
        if !closed, wantsRead, events.contains(.readable) || events.contains(.hangup) {
            readAvailable()
        }
        syncInterest()
    }

    /// Reads until the socket is empty, or a fairness cap, feeding the driver's parser.
    private func readAvailable() {
        let buffer = loop.readBuffer
        var rounds = 0
        while !closed, wantsRead, rounds < 4 {
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
                peerGone(eof: true)
                return
            case .processed(let n):
                received(UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
                if n < buffer.count { return }
            }
        }
    }

    private func received(_ bytes: UnsafeRawBufferPointer) {
        switch driver {
        case .http(let http): httpReceived(bytes, http)
        case .webSocket: webSocketReceived(bytes)
        case .stream, .closed: break  // a stream's input is only watched for EOF
        }
    }

    /// EOF, or (`eof` false) a socket error or full hang-up while not reading.
    private func peerGone(eof: Bool) {
        switch driver {
        case .http(let http): performHTTP(eof ? http.machine.peerClosedInput() : http.machine.connectionFailed())
        case .webSocket: performWebSocket(updateWebSocket { $0.machine.peerGone() })
        case .stream: performHTTP(updateStream { eof ? $0.machine.peerClosedInput() : $0.machine.connectionFailed() })
        case .closed: break
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
    /// driver how much is left (backpressure, drain notifications, final close).
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
        // every subscriber. One match of the driver (each copies the enum).
        switch driver {
        case .webSocket(let webSocket) where !webSocket.machine.watchesQueue:
            if writeArmed != wasArmed { syncInterest() }
            return
        case .http(let http):
            httpQueueChanged(http)
        default:
            queueChanged()
        }
        syncInterest()
    }

    /// Tells the driver's machine how many bytes are unsent.
    func queueChanged() {
        let bytes = writeQueue.byteCount
        switch driver {
        case .http(let http): performHTTP(http.machine.queueChanged(bytes: bytes, now: loop.now))
        case .webSocket: performWebSocket(updateWebSocket { $0.machine.queueChanged(bytes: bytes) })
        case .stream: performHTTP(updateStream { $0.machine.queueChanged(bytes: bytes, now: loop.now) })
        case .closed: break
        }
    }

    /// Applies the read/write interest decided so far; epoll is only touched on a change.
    func syncInterest() {
        guard !closed else { return }
        var interest: IOEvents = []
        if wantsRead { interest.insert(.readable) }
        if writeArmed { interest.insert(.writable) }
        loop.setInterest(tls?.machine.interest(connection: interest) ?? interest, for: registration)
    }

    /// `sendQueueDrained` runs on the next loop turn, never inside the write that drained the
    /// queue, so the handler may send again without re-entering the flush. Whichever handler
    /// the connection has by then is told.
    func scheduleDrainNotification() {
        guard !drainNotifyPending else { return }
        drainNotifyPending = true
        loop.schedule(after: .zero) { [weak self] in
            guard let self else { return }
            self.drainNotifyPending = false
            switch self.driver {
            case .webSocket(let webSocket): webSocket.handler.sendQueueDrained(self)
            case .stream(let stream): stream.handler.sendQueueDrained(self)
            case .http, .closed: break
            }
        }
    }

    /// A send-queue cut-off, counted and logged (rate-limited) for either kind of live client;
    /// `kind` names a stream that is not a WebSocket.
    func countCutOff(kind: String?) {
        server.counters.cutOffClients.add(1, ordering: .relaxed)
        var metadata: Logger.Metadata = ["peer": "\(peer)", "queued": "\(writeQueue.byteCount)"]
        if let kind { metadata["stream"] = "\(kind)" }
        server.warn(.slowClientCutOff, "slow client cut off", metadata: metadata)
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
        let last = driver
        driver = .closed
        switch last {
        case .webSocket(let webSocket):
            server.counters.openWebSockets.subtract(1, ordering: .relaxed)
            webSocket.handler.closed(self)
        case .stream(let stream):
            server.counters.openStreams.subtract(1, ordering: .relaxed)
            stream.handler.closed(self)
        case .http(let http):
            http.isCurrent = false
        case .closed:
            break
        }
    }

    // MARK: Timers and shutdown

    func checkTimeouts(now: UInt64) {
        tlsTimerFired(now: now)
        switch driver {
        case .http(let http): performHTTP(http.machine.timerFired(now: now))
        case .webSocket: performWebSocket(updateWebSocket { $0.machine.timerFired(now: now) })
        case .stream: performHTTP(updateStream { $0.machine.timerFired(now: now) })
        case .closed: break
        }
        syncInterest()
    }

    /// Shutdown: idle HTTP connections close now, busy ones after their response; WebSockets
    /// get a close frame; streams end.
    func shutdownGracefully(code: UInt16, reason: String) {
        let now = loop.now
        switch driver {
        case .http(let http): performHTTP(http.machine.shutdownRequested(now: now))
        case .webSocket: performWebSocket(updateWebSocket { $0.machine.closeRequested(code: code, reason: reason, now: now) })
        case .stream: performHTTP(updateStream { $0.machine.shutdownRequested(now: now) })
        case .closed: break
        }
        syncInterest()
    }
}
