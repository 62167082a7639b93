public import SBCore
public import Logging

public import SBEventLoop
import DequeModule
import Synchronization

/// One Redis connection owned by one event loop: its socket (`RedisSocket`) lives on that loop
/// like the hub's HTTP and WebSocket sockets. Requests are RESP we encode (`RedisArguments`);
/// hiredis only parses the replies (`RedisReplyReader`).
///
/// Concurrent commands pipeline on it. Every completion runs exactly once, on the loop: with
/// the reply (an error reply included), `.disconnected` when the link drops, `.timeout` after our
/// per-command timeout (which drops the connection and fails everything pending), or at once
/// with `.unavailable` while not ready. On connect it sends AUTH (with the user when given),
/// SELECT, one SCRIPT LOAD per script and PING before anything else, and only then becomes ready.
/// It reconnects by itself, forever, with exponential backoff (`Backoff`).
///
/// Confinement: everything but `isReady`, `reconnects` and `state` reads is called on `loop`.
/// `@unchecked Sendable` only so a caller on another thread can hop here with
/// `loop.execute { connection.start() }`; the cross-thread reads use atomics.
public final class RedisConnection: @unchecked Sendable {
    /// What observers see.
    public enum State: Equatable, Sendable {
        case down, connecting, ready, closed
    }

    public typealias Completion = (Result<RedisReply, RedisError>) -> Void

    public let loop: EventLoop
    /// Credentials and database (and, without Sentinel, the configured host and port).
    public let url: RedisURL
    /// Where the server is found on every (re)connect.
    public let endpoint: RedisEndpoint
    let resolver: any RedisResolver
    /// The address the current (or last) socket connects to.
    public private(set) var address: RedisAddress?
    /// With Sentinel: how often a ready connection asks the sentinels whether the master moved.
    let masterCheckInterval: Duration
    private var masterCheckTimer: TimerHandle?
    var masterCheckRunning = false
    public let scripts: [LuaScript]
    let logger: Logger
    let clock: any MonotonicClockSource
    var machine: RedisConnectionStateMachine
    /// The live socket, if any.
    var current: RedisSocket?
    /// SHA1 of each script, by name, as returned by SCRIPT LOAD.
    var scriptSHAs: [String: [UInt8]] = [:]
    /// The server (Redis before 7.0) refused the scripts' flags line: they were loaded
    /// without it, and EVAL sends them without it too. Redis then cannot refuse a writing
    /// script at its start when over maxmemory (REDIS_INTEGRATION.md).
    var scriptsWithoutFlags = false
    /// Pub/Sub pushes (a subscriber connection only): RedisSubscriber's handler.
    var onPush: ((RedisPush) -> Void)?
    /// A subscriber connection's error reply to a command that waits for none (SSUBSCRIBE
    /// refused with `MOVED`); without a handler such a reply drops the connection.
    var onErrorReply: ((String) -> Void)?
    var watchdog: TimerHandle?
    private var watchdogDeadline: UInt64?
    private var published = State.down
    private let readyFlag = Atomic<Bool>(false)
    private let reconnectCount = Atomic<Int>(0)
    private var everReady = false

    /// Called on the loop after each change of `state`.
    public var onStateChange: ((State) -> Void)?

    /// `sentinel` set: the master is found through Sentinel and confirmed with ROLE on every
    /// connect; `url` then only gives credentials and database.
    public convenience init(loop: EventLoop, url: RedisURL, logger: Logger, scripts: [LuaScript] = [],
                commandTimeout: Duration = .seconds(2), connectTimeout: Duration = .seconds(2),
                sentinel: SentinelSettings? = nil, resolver: any RedisResolver = ThreadResolver(),
                masterCheckInterval: Duration = .seconds(2),
                clock: any MonotonicClockSource = SystemMonotonicClock()) {
        self.init(loop: loop, url: url, logger: logger, scripts: scripts, commandTimeout: commandTimeout,
                  connectTimeout: connectTimeout, sentinel: sentinel, resolver: resolver,
                  masterCheckInterval: masterCheckInterval, clock: clock, role: .commands)
    }

    /// `role: .subscriber` routes Pub/Sub pushes to `onPush` (RedisSubscriber).
    init(loop: EventLoop, url: RedisURL, logger: Logger, scripts: [LuaScript], commandTimeout: Duration,
         connectTimeout: Duration, sentinel: SentinelSettings?, resolver: any RedisResolver,
         masterCheckInterval: Duration, clock: any MonotonicClockSource, role: RedisConnectionStateMachine.Role) {
        self.loop = loop
        self.url = url
        endpoint = sentinel.map { .sentinel($0) } ?? .direct(host: url.host, port: url.port)
        self.resolver = resolver
        self.masterCheckInterval = masterCheckInterval
        self.logger = logger
        self.scripts = scripts
        self.clock = clock
        // A lookup asks each sentinel with its own timeouts (connect + up to three replies);
        // a host name gets a few seconds of DNS.
        let discovery: Duration = switch endpoint {
        case .direct: .seconds(5)
        case .sentinel(let settings): .milliseconds(settings.sentinels.count * settings.queryTimeoutMilliseconds * 4 + 1000)
        }
        machine = RedisConnectionStateMachine(connectTimeout: Self.nanoseconds(connectTimeout),
                                              commandTimeout: Self.nanoseconds(commandTimeout),
                                              discoveryTimeout: Self.nanoseconds(discovery), role: role)
    }

    var usesSentinel: Bool {
        if case .sentinel = endpoint { return true }
        return false
    }

    /// True while commands can be sent (connected, authenticated, scripts loaded). Any thread.
    public var isReady: Bool { readyFlag.load(ordering: .acquiring) }
    /// How many times the connection became ready again after the first time. Any thread.
    public var reconnects: Int { reconnectCount.load(ordering: .relaxed) }
    /// Loop thread.
    public var state: State { published }

    /// Starts connecting. Loop thread.
    public func start() {
        if usesSentinel, masterCheckTimer == nil {
            masterCheckTimer = loop.scheduleRepeating(every: masterCheckInterval) { [weak self] in self?.checkMaster() }
        }
        apply(machine.start(now: clock.nowNanoseconds()))
    }

    /// Closes for good: replies already pending still arrive, later commands get `.unavailable`,
    /// and there is no reconnect. Loop thread.
    public func close() {
        if let masterCheckTimer { loop.cancel(masterCheckTimer) }
        masterCheckTimer = nil
        apply(machine.close())
    }

    // MARK: Driving the state machine

    func apply(_ action: RedisConnectionStateMachine.Action) {
        switch action {
        case .none:
            break
        case .discover(let attempt):
            discover(attempt: attempt)
        case .connect:
            openSocket()
        case .handshake:
            if let current { handshake(on: current) }
        case .becomeReady:
            // ROLE confirmed it: the other connections of this master may trust this answer.
            if case .sentinel(let settings) = endpoint, let address { settings.remember(address, now: clock.nowNanoseconds()) }
            if everReady { reconnectCount.add(1, ordering: .relaxed) }
            everReady = true
            logger.info("redis connected", metadata: ["redis": "\(endpointName)", "address": "\(address.map(String.init(describing:)) ?? "?")"])
        case .drop(let reason):
            drop(reason)
        case .reconnect(let milliseconds):
            logger.debug("redis reconnect scheduled", metadata: ["delayMs": "\(milliseconds)"])
            loop.schedule(after: .milliseconds(milliseconds)) { [weak self] in
                guard let self else { return }
                apply(machine.reconnectDue(now: clock.nowNanoseconds()))
            }
        case .disconnect:
            disconnectGracefully()
        }
        publishState()
        armWatchdog()
    }

    /// A numeric address is used at once; anything else is looked up by the resolver, off this
    /// loop, and the answer comes back here.
    private func discover(attempt: Int) {
        if let immediate = endpoint.immediateAddress {
            return addressLookedUp(.success(immediate), attempt: attempt)
        }
        resolver.resolve(endpoint, on: loop) { [weak self] result in
            self?.addressLookedUp(result, attempt: attempt)
        }
    }

    private func addressLookedUp(_ result: Result<RedisAddress, RedisDiscoveryError>, attempt: Int) {
        switch result {
        case .success(let found):
            let action = machine.addressFound(attempt: attempt, now: clock.nowNanoseconds())
            if action == .connect {
                if let address, address != found {
                    logger.info("redis address changed", metadata: ["from": "\(address)", "to": "\(found)", "redis": "\(endpointName)"])
                }
                address = found
            }
            apply(action)
        case .failure(let error):
            logger.warning("redis address lookup failed", metadata: ["redis": "\(endpointName)", "error": "\(error)"])
            apply(machine.discoveryFailed(attempt: attempt, random: Double.random(in: 0..<1)))
        }
    }

    /// For logs: the configured server, or the Sentinel master name.
    var endpointName: String {
        switch endpoint {
        case .direct: "\(url)"
        case .sentinel(let settings): "sentinel master \(settings.masterName)"
        }
    }

    private func openSocket() {
        guard let target = address ?? endpoint.immediateAddress else {
            return apply(machine.contextLost(random: Double.random(in: 0..<1)))
        }
        var tls: RedisSocket.TLS?
        if url.usesTLS {
            guard let settings = url.tls else {
                warnOnce("rediss:// without TLS settings (REDIS_TLS_*): not connecting")
                return apply(machine.contextLost(random: Double.random(in: 0..<1)))
            }
            // The certificate must name REDIS_TLS_SERVER_NAME, else the configured host (a
            // host name or an IP address), else (Sentinel) the address the master was found at.
            let serverName = settings.serverName ?? (usesSentinel ? target.host : url.host)
            tls = RedisSocket.TLS(context: settings.context, serverName: serverName)
        }
        do {
            current = try RedisSocket(loop: loop, address: target, owner: self, tls: tls, now: clock.nowNanoseconds())
        } catch {
            logger.debug("redis connect failed", metadata: ["redis": "\(endpointName)", "error": "\(error)"])
            apply(machine.contextLost(random: Double.random(in: 0..<1)))
        }
    }

    // MARK: Events from the socket

    func socketConnected(_ socket: RedisSocket) {
        guard socket === current else { return }
        apply(machine.connected(now: clock.nowNanoseconds()))
    }

    /// One reply, in order: the oldest command's answer, or (subscriber) a push.
    func socketReceived(_ socket: RedisSocket, _ reply: RedisReply) {
        guard socket === current else { return }
        let push = machine.role == .subscriber ? RedisPush(reply) : nil
        switch machine.route(isPush: push != nil, pending: socket.pending.count) {
        case .completeOldest:
            socket.pending.removeFirst().completion(.success(reply))
            if socket.closeWhenIdle, socket.pending.isEmpty, socket === current { drop(.disconnected) }
        case .push:
            if let push { onPush?(push) }
        case .unexpected where machine.role == .subscriber && reply.isError && onErrorReply != nil:
            // A refused SSUBSCRIBE (`MOVED`: the slot is elsewhere now) answers no pending
            // command: the owner re-routes the channel, the connection stays.
            if case .error(let message) = reply { onErrorReply?(message) }
        case .unexpected:
            logger.error("redis sent a reply no command was waiting for: dropping the connection", metadata: ["redis": "\(endpointName)"])
            apply(machine.socketFailed(.protocolError))
        }
    }

    func socketFailed(_ socket: RedisSocket, _ failure: RedisConnectionStateMachine.SocketFailure) {
        guard socket === current else { return }
        switch failure {
        case .connectFailed:
            logger.debug("redis connect failed", metadata: ["redis": "\(endpointName)", "reason": "\(failure)"])
        case .tls(let reason):
            if case .handshaking = machine.state, reason.contains("certificate required") {
                warnOnce(Self.clientCertificateHint(reason), key: "client certificate")
            } else {
                warnOnce("redis TLS failed: \(reason)")
            }
        case .closedByPeer where url.usesTLS:
            // TLS 1.3: the server checks our certificate after our side of the handshake is
            // done, then sends its alert and closes; a reset can overtake the alert.
            if case .handshaking = machine.state {
                warnOnce(Self.clientCertificateHint("the server closed the connection"), key: "client certificate")
            }
        case .closedByPeer, .readFailed, .writeFailed, .protocolError:
            if !url.usesTLS, case .handshaking = machine.state {
                // A TLS server reads our plain handshake as a broken ClientHello and hangs up.
                warnOnce("redis closed the connection before answering the handshake (\(failure)): is it a TLS port (then use rediss://)?")
            }
        }
        let action = machine.socketFailed(failure)
        if case .drop = action { apply(action) } else { drop(.disconnected) }
    }

    /// Closes the current socket, fails its pending commands with `reason` (oldest first), and
    /// lets the state machine schedule the reconnect. Safe from inside a completion or a read:
    /// the socket stops delivering once closed.
    func drop(_ reason: RedisError) {
        guard let socket = current else { return }
        current = nil
        socket.close()
        if machine.isReady {
            logger.warning("redis connection lost", metadata: ["redis": "\(endpointName)", "reason": "\(reason)"])
        }
        let failed = socket.pending
        socket.pending.removeAll()
        for command in failed { command.completion(.failure(reason)) }
        apply(machine.contextLost(random: Double.random(in: 0..<1)))
    }

    /// `close()`: the replies still pending arrive first, then the socket closes.
    private func disconnectGracefully() {
        guard let socket = current else { return }
        if socket.pending.isEmpty {
            drop(.disconnected)
        } else {
            socket.closeWhenIdle = true
        }
    }

    /// A warning that says why this Redis cannot be reached, at most once per cause and
    /// endpoint every 30 seconds for the whole process (each loop's connections fail alike).
    /// `key` names the cause when the message varies with it (one warning per cause).
    func warnOnce(_ message: String, key: String? = nil) {
        guard RedisWarnings.shared.shouldLog("\(endpointName) \(key ?? message)", now: clock.nowNanoseconds()) else { return }
        logger.warning("\(message)", metadata: ["redis": "\(endpointName)"])
    }

    static func clientCertificateHint(_ what: String) -> String {
        "redis TLS failed: \(what) right after the TLS handshake, before answering: does it require a client certificate (REDIS_TLS_CERT_FILE and REDIS_TLS_KEY_FILE)?"
    }

    private func publishState() {
        let now: State
        switch machine.state {
        case .idle, .waiting: now = .down
        case .discovering, .connecting, .handshaking: now = .connecting
        case .ready: now = .ready
        case .closed: now = .closed
        }
        guard now != published else { return }
        published = now
        readyFlag.store(now == .ready, ordering: .releasing)
        onStateChange?(now)
    }

    // MARK: Timeouts

    /// One timer at the earliest deadline: connect/handshake, or the oldest pending command.
    /// It is re-armed lazily when it fires, so a busy pipeline costs no timer churn.
    func armWatchdog() {
        let deadline = machine.nextDeadline(oldestCommand: current?.pending.first?.sentAt)
        guard deadline != watchdogDeadline || (deadline != nil && watchdog == nil) else { return }
        if let watchdog { loop.cancel(watchdog) }
        watchdog = nil
        watchdogDeadline = deadline
        guard let deadline else { return }
        let now = clock.nowNanoseconds()
        let delay = deadline > now ? deadline - now : 0
        watchdog = loop.schedule(after: .nanoseconds(Int64(delay))) { [weak self] in
            guard let self else { return }
            watchdog = nil
            watchdogDeadline = nil
            let action = machine.tick(now: clock.nowNanoseconds(), oldestCommand: current?.pending.first?.sentAt,
                                      random: Double.random(in: 0..<1))
            if case .drop = action {
                if case .handshaking = machine.state, !url.usesTLS {
                    // A TLS server waits for the rest of what it takes for a ClientHello.
                    warnOnce("redis did not answer the handshake in time: is it a TLS port (then use rediss://)?")
                } else if case .connecting = machine.state, current?.isInTLSHandshake == true {
                    // A plain Redis reads a ClientHello as an unfinished inline command.
                    warnOnce("redis TLS failed: handshake not completed in time: is it a TLS port (a plain one leaves the hello unanswered; then use redis://)?")
                } else {
                    logger.warning("redis did not answer in time: dropping the connection",
                                   metadata: ["redis": "\(url)", "pending": "\(current?.pending.count ?? 0)"])
                }
            }
            apply(action)
        }
    }

    static func nanoseconds(_ duration: Duration) -> UInt64 {
        let (seconds, attoseconds) = duration.components
        return UInt64(max(seconds, 0)) * 1_000_000_000 + UInt64(max(attoseconds, 0) / 1_000_000_000)
    }
}
