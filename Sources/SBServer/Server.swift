public import SBEventLoop
import Synchronization
public import Logging

/// The listening side of the process: one `LoopServer` per event loop, each with its own
/// SO_REUSEPORT listener on the same port, so the kernel spreads connections and no loop ever
/// hands a socket to another.
public final class Server: @unchecked Sendable {
    // Immutable after init; the loop servers are only touched on their own loops.
    public let configuration: ServerConfiguration
    let group: EventLoopGroup
    let loopServers: [LoopServer]
    /// Open connections and other counts across all loops, for MAX_CONNECTIONS and /health.
    let counters = ServerCounters()
    private let boundPort = Atomic<Int>(0)

    public init(configuration: ServerConfiguration, group: EventLoopGroup, logger: Logger,
                responderFactory: (EventLoop) -> any HTTPResponder) {
        var configuration = configuration
        let configured = configuration.maxConnections
        let openFileLimit = ProcessSignals.openFileLimit()
        configuration.maxConnections = Self.cappedMaxConnections(
            configured: configured, openFileLimit: openFileLimit, loops: group.loops.count, logger: logger)
        if configuration.maxConnections < configured {
            configuration.openFileCap = .init(openFileLimit: openFileLimit, configuredMaxConnections: configured)
        }
        self.configuration = configuration
        self.group = group
        var servers: [LoopServer] = []
        for loop in group.loops {
            servers.append(LoopServer(loop: loop, configuration: configuration, logger: logger, counters: counters,
                                      responder: responderFactory(loop)))
        }
        loopServers = servers
    }

    /// Descriptors kept for everything that is not a client: per loop an epoll fd, an eventfd,
    /// a listener, its spare and Redis connections; plus stdio, the signalfd and slack.
    static func reservedDescriptors(loops: Int) -> Int { 32 + 8 * loops }

    /// MAX_CONNECTIONS lowered to what RLIMIT_NOFILE allows, so the limit is met with a clean
    /// 503 from `admit` rather than with EMFILE at accept. Said once in the startup log.
    static func cappedMaxConnections(configured: Int, openFileLimit: Int, loops: Int, logger: Logger) -> Int {
        guard openFileLimit > 0 else { return configured }
        let reserve = reservedDescriptors(loops: loops)
        let allowed = max(1, openFileLimit - reserve)
        guard configured > allowed else { return configured }
        logger.warning("MAX_CONNECTIONS lowered from \(configured) to \(allowed): the open-file limit (RLIMIT_NOFILE) is \(openFileLimit) and \(reserve) descriptors are kept for listeners, event loops and Redis")
        return allowed
    }

    /// Binds every loop's listener (call before `group.start()`); returns the bound port.
    /// With port 0 the first bind picks a port and the others join it.
    @discardableResult
    public func bind() throws(IOError) -> Int {
        var port = configuration.port
        if port != 0 { try TCPListener.ensureFree(host: configuration.host, port: port) }
        for server in loopServers {
            let listener = try TCPListener(host: configuration.host, port: port, reusePort: true)
            port = listener.port
            server.listener = listener
        }
        boundPort.store(port, ordering: .relaxed)
        return port
    }

    /// Registers listeners and timers; each step runs on its own loop.
    public func start() {
        for server in loopServers {
            server.loop.execute { server.start() }
        }
    }

    public var port: Int { boundPort.load(ordering: .relaxed) }
    public var connectionCount: Int { counters.openConnections.load(ordering: .relaxed) }
    public var webSocketCount: Int { counters.openWebSockets.load(ordering: .relaxed) }
    /// Open streaming responses (Server-Sent Events).
    public var streamCount: Int { counters.openStreams.load(ordering: .relaxed) }
    /// WebSocket clients cut off for exceeding SEND_QUEUE_BYTES since start.
    public var cutOffCount: Int { counters.cutOffClients.load(ordering: .relaxed) }

    /// Shutdown step 1: stop accepting (listeners closed, so the balancer moves on).
    public func closeListeners() {
        for server in loopServers {
            server.loop.execute { server.closeListener() }
        }
    }

    /// Shutdown step 2: every WebSocket gets close `code`; idle keep-alive HTTP connections
    /// are closed; in-flight requests finish and then close.
    public func closeAllConnections(code: UInt16, reason: String) {
        for server in loopServers {
            server.loop.execute { server.closeAll(code: code, reason: reason) }
        }
    }
}
