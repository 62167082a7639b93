import DequeModule
import SBCore
import Synchronization
import SBEventLoop
import SBTLS
import SBWebSocket
import Logging

/// Everything one loop owns: its listener, its connections, the connections with bytes to
/// flush before the loop sleeps, and the timers that police them.
final class LoopServer: IOHandler, @unchecked Sendable {  // confined to `loop`
    let loop: EventLoop
    let configuration: ServerConfiguration
    let logger: Logger
    let responder: any HTTPResponder
    let counters: ServerCounters
    var listener: TCPListener?
    private var listenerRegistration: Registration?
    /// Every open connection of this loop, each knowing its index (`serverIndex`): an array
    /// costs one reference per connection, a dictionary by id several times that (idle memory).
    var connections: [Connection] = []
    private var flushList = Deque<Connection>()
    var draining = false
    private var listenerPaused = false
    private var warnings = WarningLimiter(interval: 10_000_000_000)
    let httpMachineConfiguration: HTTPConnectionStateMachine.Configuration
    let webSocketMachineConfiguration: WebSocketConnectionStateMachine.Configuration
    /// With TLS on: the context new connections start with (replaced by a SIGHUP reload).
    var tlsContext: TLSContext?
    let tlsHandshakeTimeout: UInt64
    lazy var tlsStaging = TLSWriteStaging()
    /// permessage-deflate, one of each per loop and made on first use: the connections of this
    /// loop share them (a message is compressed or inflated whole, in one call), so no
    /// connection holds zlib state.
    lazy var deflater = MessageDeflater()
    lazy var inflater = MessageInflater()
    /// WS_COMPRESSION_MIN_BYTES (unused while compression is off: no connection agrees to it).
    let compressionMinBytes: Int
    /// `Strict-Transport-Security: max-age=N\r\n` when TLS_HSTS_SECONDS is set: added to
    /// responses on TLS connections only (RFC 6797 §7.2: never over plain HTTP).
    let hstsHeaderLine: [UInt8]

    init(loop: EventLoop, configuration: ServerConfiguration, logger: Logger, counters: ServerCounters, responder: any HTTPResponder) {
        self.loop = loop
        self.configuration = configuration
        self.logger = logger
        self.counters = counters
        self.responder = responder
        let second: UInt64 = 1_000_000_000
        httpMachineConfiguration = .init(
            headerTimeout: UInt64(configuration.headerTimeoutSeconds) * second,
            idleTimeout: UInt64(configuration.idleTimeoutSeconds) * second,
            sendQueueLimit: configuration.sendQueueBytes,
            streamHeartbeat: UInt64(max(configuration.heartbeatSeconds, 0)) * second)
        webSocketMachineConfiguration = .init(
            closeTimeout: UInt64(configuration.closeHandshakeTimeoutSeconds) * second,
            silenceLimit: UInt64(max(configuration.heartbeatSeconds, 0)) * 2 * second,
            sendQueueLimit: configuration.sendQueueBytes)
        tlsContext = configuration.tls
        compressionMinBytes = configuration.webSocketCompression?.minBytes ?? Int.max
        tlsHandshakeTimeout = UInt64(configuration.tlsHandshakeTimeoutSeconds) * second
        hstsHeaderLine = configuration.hstsMaxAgeSeconds > 0
            ? Array("Strict-Transport-Security: max-age=\(configuration.hstsMaxAgeSeconds)\r\n".utf8) : []
    }

    func start() {
        if let listener {
            do {
                listenerRegistration = try loop.register(fd: listener.fd, interest: .readable, handler: self)
            } catch {
                logger.critical("cannot register listener: \(error)")
            }
        }
        loop.addBeforeSleep { [unowned self] busy in flushPending(busy: busy) }
        loop.scheduleRepeating(every: .seconds(1)) { [unowned self] in sweepTimeouts() }
        if configuration.heartbeatSeconds > 0 {
            loop.scheduleRepeating(every: .seconds(configuration.heartbeatSeconds)) { [unowned self] in heartbeat() }
        }
    }

    // MARK: Accepting

    func handleIO(_ events: IOEvents) {
        guard let listener else { return }
        // Accept a bounded batch so one busy listener cannot starve the loop's connections.
        for _ in 0..<64 {
            let result: TCPListener.AcceptResult
            do {
                result = try listener.accept()
            } catch {
                // ENOBUFS, ENOMEM…: retrying at once would spin; look again shortly.
                warn(.acceptFailed, "accept failed, pausing the listener briefly: \(error)")
                pauseListener()
                return
            }
            switch result {
            case .none:
                return
            case .accepted(let fd, let peer):
                admit(fd: fd, peer: peer)
            case .outOfDescriptors(let code):
                warn(.descriptorsExhausted, "connection refused: out of file descriptors (\(code == 24 /* EMFILE */ ? "EMFILE: the process's open-file limit RLIMIT_NOFILE" : "ENFILE: the system-wide file table") is reached, not MAX_CONNECTIONS): new connections get 503 until some close",
                     metadata: ["open": "\(connections.count)"])
                if listener.shedOne(response: refusalResponse) { continue }
                pauseListener()
                return
            }
        }
    }

    /// Stops watching the listener until a connection of this loop closes, or a second passes
    /// (the descriptors may be held elsewhere in the process).
    private func pauseListener() {
        guard !listenerPaused, let listenerRegistration else { return }
        listenerPaused = true
        loop.setInterest([], for: listenerRegistration)
        loop.schedule(after: .seconds(1)) { [weak self] in self?.resumeListener() }
    }

    private func resumeListener() {
        guard listenerPaused else { return }
        listenerPaused = false
        if let listenerRegistration { loop.setInterest(.readable, for: listenerRegistration) }
    }

    static let busyResponse: [UInt8] = {
        let body = Array("{\"error\":\"too many connections\"}".utf8)
        var bytes = Array("HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json; charset=utf-8\r\nRetry-After: 1\r\nConnection: close\r\nContent-Length: \(body.count)\r\n\r\n".utf8)
        bytes.append(contentsOf: body)
        return bytes
    }()

    private func admit(fd: Int32, peer: String) {
        let count = counters.openConnections.wrappingAdd(1, ordering: .relaxed).newValue
        if count > configuration.maxConnections {
            counters.openConnections.subtract(1, ordering: .relaxed)
            if let cap = configuration.openFileCap {
                warn(.maxConnections, "connection refused: the open-file limit (RLIMIT_NOFILE \(cap.openFileLimit)) is reached, not MAX_CONNECTIONS (\(cap.configuredMaxConnections)): raise `ulimit -n` to hold more",
                     metadata: ["peer": "\(peer)", "max": "\(configuration.maxConnections)"])
            } else {
                warn(.maxConnections, "connection refused: MAX_CONNECTIONS reached", metadata: ["peer": "\(peer)", "max": "\(configuration.maxConnections)"])
            }
            refusalResponse.withUnsafeBytes { _ = try? SocketIO.write(fd: fd, $0) }
            SocketIO.close(fd: fd)
            return
        }
        var tls: TLSSession?
        if let context = tlsContext {
            guard let session = makeTLSSession(fd: fd, context: context) else {
                warn(.registerFailed, "cannot start a TLS session (out of memory?): connection refused")
                counters.openConnections.subtract(1, ordering: .relaxed)
                SocketIO.close(fd: fd)
                return
            }
            tls = session
        }
        let connection = Connection(fd: fd, peer: peer, server: self, tls: tls)
        do {
            connection.registration = try loop.register(fd: fd, interest: .readable, handler: connection)
        } catch {
            warn(.registerFailed, "cannot register connection: \(error)")
            tls?.close()
            counters.openConnections.subtract(1, ordering: .relaxed)
            SocketIO.close(fd: fd)
            return
        }
        connection.serverIndex = Int32(connections.count)
        connections.append(connection)
    }

    /// Logs a repeated warning at most every 10 s per kind (see `WarningLimiter`).
    func warn(_ kind: WarningLimiter.Kind, _ message: String, metadata: Logger.Metadata = [:]) {
        guard let suppressed = warnings.admit(kind, now: MonotonicClock.now()) else { return }
        var metadata = metadata
        if suppressed > 0 { metadata["suppressed"] = "\(suppressed)" }
        logger.warning("\(message)", metadata: metadata)
    }

    func forget(_ connection: Connection) {
        let index = Int(connection.serverIndex)
        if index >= 0, index < connections.count, connections[index] === connection {
            let last = connections.removeLast()
            if index < connections.count {
                connections[index] = last
                last.serverIndex = Int32(index)
            }
            connection.serverIndex = -1
            counters.openConnections.subtract(1, ordering: .relaxed)
            resumeListener()  // a descriptor came free
        }
    }

    // MARK: Corked writes

    func scheduleFlush(_ connection: Connection) {
        guard !connection.inFlushList else { return }
        connection.inFlushList = true
        flushList.append(connection)
    }

    /// Connections flushed per iteration while the loop is busy.
    static let flushBatch = 16

    /// Writes queued bytes, oldest connection first. An idle loop flushes everything now: no
    /// added latency. A busy one (this iteration had requests or hand-offs) flushes one batch,
    /// yields the CPU, and polls again:
    /// - a request arriving meanwhile (the next POST) waits for a batch, not a whole broadcast;
    /// - frames that keep arriving for a connection still in the list leave together in one
    ///   write, so under load one system call carries several events (uWS drains per
    ///   subscriber per loop turn for the same reason);
    /// - `sched_yield` lets whatever else is runnable on this core go first (the other loop,
    ///   Redis, or the clients on a shared machine) instead of waiting for a scheduler tick. On
    ///   a core of its own it returns at once. Measured with wsload on 2 shared cores: 2.5–3×
    ///   the deliveries/s at the default THREADS, fixed-rate latency unchanged.
    /// The list holds each connection once, so a connection waits at most connections ÷ batch
    /// iterations. Returns true when connections are left for the next iteration.
    /// `cpuContended` (below) extends batching to turns without new input.
    private func flushPending(busy: Bool) -> Bool {
        var budget = busy || cpuContended ? Self.flushBatch : Int.max
        while budget > 0, let connection = flushList.popFirst() {
            budget -= 1
            connection.inFlushList = false
            connection.flush()
        }
        guard !flushList.isEmpty else {
            cpuContended = false
            return false
        }
        let before = MonotonicClock.now()
        loop.yieldCPU()
        cpuContended = MonotonicClock.now() &- before > Self.contendedYieldNanoseconds
        return true
    }

    /// A yield that took this long ran another thread: the core is contended (other loops,
    /// Redis, clients on the same machine), so the next turn keeps flushing in batches even if
    /// no new input arrived. Frames then keep coalescing while the machine, not this loop, is
    /// the bottleneck (two Redis-backed instances on 2 shared cores: ~1.6x the deliveries/s).
    static let contendedYieldNanoseconds: UInt64 = 10_000
    private var cpuContended = false

    // MARK: Timers

    private func sweepTimeouts() {
        let now = MonotonicClock.now()
        for connection in connections {
            connection.checkTimeouts(now: now)
        }
    }

    private func heartbeat() {
        let now = MonotonicClock.now()
        for connection in connections {
            connection.heartbeat(now: now)
        }
    }

    // MARK: Shutdown

    func closeListener() {
        draining = true
        listenerPaused = false
        if let listenerRegistration { loop.deregister(listenerRegistration) }
        listenerRegistration = nil
        listener?.close()
        listener = nil
    }

    func closeAll(code: UInt16, reason: String) {
        draining = true
        for connection in connections {
            connection.shutdownGracefully(code: code, reason: reason)
        }
    }
}
