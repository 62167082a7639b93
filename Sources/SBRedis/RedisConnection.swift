public import SBCore
import CHiredis
public import Logging

public import SBEventLoop
import Synchronization

/// One Redis connection owned by one event loop: a hiredis async context driven by that loop.
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
    /// The address the current (or last) context connects to.
    public private(set) var address: RedisAddress?
    /// With Sentinel: how often a ready connection asks the sentinels whether the master moved.
    let masterCheckInterval: Duration
    private var masterCheckTimer: TimerHandle?
    private var masterCheckRunning = false
    public let scripts: [LuaScript]
    let logger: Logger
    let clock: any MonotonicClockSource
    var machine: RedisConnectionStateMachine
    /// The live hiredis context, if any.
    var current: HiredisAdapter?
    /// SHA1 of each script, by name, as returned by SCRIPT LOAD.
    var scriptSHAs: [String: [UInt8]] = [:]
    /// The server (Redis before 7.0) refused the scripts' flags line: they were loaded
    /// without it, and EVAL sends them without it too. Redis then cannot refuse a writing
    /// script at its start when over maxmemory (REDIS_INTEGRATION.md).
    var scriptsWithoutFlags = false
    /// Depth of hiredis frames on the stack: we never free a context from inside one.
    var hiredisDepth = 0
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
    public init(loop: EventLoop, url: RedisURL, logger: Logger, scripts: [LuaScript] = [],
                commandTimeout: Duration = .seconds(2), connectTimeout: Duration = .seconds(2),
                sentinel: SentinelSettings? = nil, resolver: any RedisResolver = ThreadResolver(),
                masterCheckInterval: Duration = .seconds(2),
                clock: any MonotonicClockSource = SystemMonotonicClock()) {
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
                                              discoveryTimeout: Self.nanoseconds(discovery))
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
            openContext()
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

    /// A hint (`+switch-master`) that the master moved: a ready connection checks at once; one
    /// waiting out its backoff looks the master up now instead. Loop thread.
    public func masterMayHaveMoved() {
        if machine.state == .waiting {
            apply(machine.reconnectDue(now: clock.nowNanoseconds()))
        } else {
            checkMaster(force: true)
        }
    }

    /// With Sentinel, a ready connection asks the sentinels (off the loop) where the master is;
    /// if it moved, the connection is dropped and reconnects there. Runs on a timer (a failover
    /// does not always close our connections: Sentinel leaves Pub/Sub clients alone) and, with
    /// `force`, on a `+switch-master` hint. The timed checks of all connections of a master
    /// share one lookup per interval (`SentinelSettings` keeps the last answer). Loop thread.
    public func checkMaster(force: Bool = false) {
        guard case .sentinel(let settings) = endpoint, machine.isReady, !masterCheckRunning, let connectedTo = address else { return }
        if !force {
            if let recent = settings.recentMaster(now: clock.nowNanoseconds(), maxAge: Self.nanoseconds(masterCheckInterval)) {
                return masterAnswered(recent, connectedTo: connectedTo)
            }
            guard settings.beginCheck() else { return }  // another connection is asking; its answer is shared
        }
        masterCheckRunning = true
        resolver.resolve(endpoint, on: loop) { [weak self] result in
            if !force { settings.endCheck() }
            guard let self else { return }
            masterCheckRunning = false
            guard case .success(let master) = result else { return }
            settings.remember(master, now: clock.nowNanoseconds())
            masterAnswered(master, connectedTo: connectedTo)
        }
    }

    private func masterAnswered(_ master: RedisAddress, connectedTo: RedisAddress) {
        guard master != connectedTo, address == connectedTo, machine.isReady else { return }
        logger.warning("redis master moved: reconnecting", metadata: ["from": "\(connectedTo)", "to": "\(master)", "redis": "\(endpointName)"])
        drop(.disconnected)
    }

    private func openContext() {
        guard let target = address ?? endpoint.immediateAddress,
              let context = redisAsyncConnect(target.host, Int32(target.port)) else {
            return apply(machine.contextLost(random: Double.random(in: 0..<1)))
        }
        if context.pointee.err != 0 {
            logger.debug("redis connect failed", metadata: ["error": "\(String(cString: context.pointee.errstr))"])
            redisAsyncFree(context)  // never attached, so no callbacks run
            return apply(machine.contextLost(random: Double.random(in: 0..<1)))
        }
        let adapter = HiredisAdapter(loop: loop, context: context, owner: self)
        current = adapter
        adapter.attach()
        // Dead peers behind a silent network are found by TCP keepalive (~15 s idle).
        _ = redisEnableKeepAlive(&context.pointee.c)
        // hiredis detects the finished connect on the first write event, which this arms.
        redisAsyncSetConnectCallback(context) { context, status in
            guard let adapter = HiredisAdapter.from(context?.pointee.ev.data) else { return }
            adapter.owner.tcpConnected(adapter, ok: status == REDIS_OK)
        }
    }

    private func tcpConnected(_ adapter: HiredisAdapter, ok: Bool) {
        // On failure hiredis frees the context right after this returns; cleanup reports it.
        guard ok, adapter === current else { return }
        adapter.corked = true
        hiredisDepth += 1
        apply(machine.connected(now: clock.nowNanoseconds()))
        hiredisDepth -= 1
    }

    /// From hiredis's cleanup hook: the context is gone. No hiredis calls from here.
    func contextReleased(_ adapter: HiredisAdapter) {
        guard adapter === current else { return }
        current = nil
        if machine.isReady {
            logger.warning("redis connection lost", metadata: ["redis": "\(endpointName)", "reason": "\(adapter.failure)"])
        }
        apply(machine.contextLost(random: Double.random(in: 0..<1)))
    }

    func registrationFailed(_ adapter: HiredisAdapter, error: String) {
        logger.error("redis socket could not be registered with the event loop", metadata: ["error": "\(error)"])
        drop(.disconnected)
    }

    /// Frees the current context so its pending commands fail with `reason` and a reconnect
    /// follows. Inside a hiredis frame it is deferred to a timer, never done in place.
    func drop(_ reason: RedisError) {
        guard let adapter = current, !adapter.released else { return }
        guard hiredisDepth == 0 else {
            loop.schedule(after: .zero) { [weak self, weak adapter] in
                guard let self, let adapter, adapter === current else { return }
                drop(reason)
            }
            return
        }
        adapter.failure = reason
        withinHiredis { redisAsyncFree(adapter.context) }
    }

    private func disconnectGracefully() {
        guard let adapter = current, !adapter.released else { return }
        guard hiredisDepth == 0 else {
            loop.schedule(after: .zero) { [weak self] in self?.disconnectGracefully() }
            return
        }
        withinHiredis { redisAsyncDisconnect(adapter.context) }
    }

    /// Runs a call into hiredis (or one of our callbacks out of it), counting the frame.
    func withinHiredis<R>(_ body: () -> R) -> R {
        hiredisDepth += 1
        defer { hiredisDepth -= 1 }
        return body()
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

    // MARK: Timeouts (hiredis 0.14.1 has none for async contexts)

    /// One timer at the earliest deadline: connect/handshake, or the oldest pending command.
    /// It is re-armed lazily when it fires, so a busy pipeline costs no timer churn.
    func armWatchdog() {
        let deadline = machine.nextDeadline(oldestCommand: current?.inFlight.first)
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
            let action = machine.tick(now: clock.nowNanoseconds(), oldestCommand: current?.inFlight.first,
                                      random: Double.random(in: 0..<1))
            if case .drop = action {
                logger.warning("redis did not answer in time: dropping the connection",
                               metadata: ["redis": "\(url)", "pending": "\(current?.inFlight.count ?? 0)"])
            }
            apply(action)
        }
    }

    static func nanoseconds(_ duration: Duration) -> UInt64 {
        let (seconds, attoseconds) = duration.components
        return UInt64(max(seconds, 0)) * 1_000_000_000 + UInt64(max(attoseconds, 0) / 1_000_000_000)
    }
}
