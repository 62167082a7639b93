import CHiredis
import DequeModule
public import Logging
import SBCore
public import SBEventLoop

/// One Redis connection owned by one event loop. Commands pipeline on it; every completion runs
/// exactly once on the loop (success, server error, `.disconnected` when the link drops,
/// `.timeout`, or `.unavailable` when not connected). It reconnects by itself with exponential
/// backoff (100 ms doubling to 3 s, with jitter) and runs `onConnect` steps (AUTH, SELECT, script
/// loads) before declaring itself ready.
public final class RedisConnection: @unchecked Sendable {
    public enum State: Equatable, Sendable { case connecting, ready, down }

    public let loop: EventLoop
    public let url: RedisURL
    let logger: Logger
    let commandTimeoutNanoseconds: UInt64
    var context: UnsafeMutablePointer<redisAsyncContext>?
    public private(set) var state = State.down
    /// Start times of commands in flight, in send order (Redis replies in order).
    var inFlight = Deque<UInt64>()
    var connectStartedAt: UInt64 = 0
    var backoffMilliseconds = 100
    var closed = false
    var everConnected = false
    /// Called on the loop whenever the state changes.
    public var onStateChange: ((State) -> Void)?
    /// Runs right after the TCP connection is up, before the connection is `ready`; call
    /// `finish(true)` to go ready or `finish(false)` to drop and retry.
    public var onConnect: ((RedisConnection, _ finish: @escaping (Bool) -> Void) -> Void)?
    /// Reconnects after the first successful connection (subscribers resubscribe here).
    public private(set) var reconnects = 0

    public init(loop: EventLoop, url: RedisURL, logger: Logger, commandTimeout: Duration = .seconds(2)) {
        self.loop = loop
        self.url = url
        self.logger = logger
        let (seconds, atto) = commandTimeout.components
        commandTimeoutNanoseconds = UInt64(seconds) * 1_000_000_000 + UInt64(atto / 1_000_000_000)
    }

    public var isReady: Bool { state == .ready }

    /// Starts connecting (loop thread) and the watchdog that enforces timeouts.
    public func start() {
        loop.scheduleRepeating(every: .milliseconds(100)) { [weak self] in self?.watchdog() }
        connect()
    }

    /// Closes for good: pending commands fail, no reconnect.
    public func close() {
        closed = true
        if let context {
            redisAsyncDisconnect(context)
        }
    }

    // MARK: Commands

    /// Sends one command; `completion` runs exactly once on the loop.
    public func send(_ arguments: [[UInt8]], _ completion: @escaping (Result<RedisReply, RedisError>) -> Void) {
        guard state == .ready || (state == .connecting && context != nil && inHandshake), let context else {
            completion(.failure(.unavailable))
            return
        }
        sendRaw(context: context, arguments, completion)
    }

    public func send(_ arguments: String..., completion: @escaping (Result<RedisReply, RedisError>) -> Void) {
        send(arguments.map { Array($0.utf8) }, completion)
    }

    /// True while `onConnect` steps run: they may send before the connection is `ready`.
    var inHandshake = false

    func sendRaw(context: UnsafeMutablePointer<redisAsyncContext>, _ arguments: [[UInt8]],
                 _ completion: @escaping (Result<RedisReply, RedisError>) -> Void) {
        let box = Unmanaged.passRetained(ReplyBox(connection: self, completion: completion)).toOpaque()
        let status = withArgv(arguments) { argc, argv, lengths in
            redisAsyncCommandArgv(context, { _, reply, privdata in
                let box = Unmanaged<ReplyBox>.fromOpaque(privdata!).takeRetainedValue()
                let copied = reply.map { RedisReply(UnsafePointer($0.assumingMemoryBound(to: redisReply.self))) }
                box.complete(copied)
            }, box, argc, argv, lengths)
        }
        if status != REDIS_OK {
            Unmanaged<ReplyBox>.fromOpaque(box).release()
            completion(.failure(.unavailable))
            return
        }
        inFlight.append(MonotonicClock.now())
    }

    // MARK: Connecting

    func connect() {
        guard !closed, context == nil else { return }
        state = .connecting
        connectStartedAt = MonotonicClock.now()
        guard let ac = redisAsyncConnect(url.host, Int32(url.port)) else {
            scheduleReconnect()
            return
        }
        if ac.pointee.err != 0 {
            logger.warning("redis connect failed", metadata: ["error": "\(String(cString: ac.pointee.errstr))"])
            redisAsyncFree(ac)
            scheduleReconnect()
            return
        }
        context = ac
        ac.pointee.data = Unmanaged.passUnretained(self).toOpaque()
        HiredisAdapter(loop: loop, context: ac).attach()
        redisAsyncSetConnectCallback(ac) { ac, status in
            guard let ac, let data = ac.pointee.data else { return }
            Unmanaged<RedisConnection>.fromOpaque(data).takeUnretainedValue().connected(ok: status == REDIS_OK)
        }
        redisAsyncSetDisconnectCallback(ac) { ac, status in
            guard let ac, let data = ac.pointee.data else { return }
            Unmanaged<RedisConnection>.fromOpaque(data).takeUnretainedValue().disconnected()
        }
    }

    private func connected(ok: Bool) {
        guard ok else {
            // hiredis frees the context after this callback returns.
            context = nil
            inFlight.removeAll()
            logger.debug("redis connect attempt failed")
            setState(.down)
            scheduleReconnect()
            return
        }
        inHandshake = true
        let finish: (Bool) -> Void = { [weak self] success in
            guard let self else { return }
            inHandshake = false
            if success {
                backoffMilliseconds = 100
                if everConnected { reconnects += 1 }
                everConnected = true
                setState(.ready)
            } else if let context {
                redisAsyncDisconnect(context)
            }
        }
        if let onConnect { onConnect(self, finish) } else { authenticateAndSelect(finish) }
    }

    /// AUTH and SELECT from the URL, then `finish`.
    public func authenticateAndSelect(_ finish: @escaping (Bool) -> Void) {
        var steps: [[String]] = []
        if let password = url.password {
            steps.append(url.user.map { ["AUTH", $0, password] } ?? ["AUTH", password])
        }
        if url.db != 0 { steps.append(["SELECT", String(url.db)]) }
        guard !steps.isEmpty else { return finish(true) }
        var remaining = steps.count
        var failed = false
        for step in steps {
            send(step.map { Array($0.utf8) }) { [logger] result in
                if case .success(.error(let message)) = result {
                    logger.error("redis \(step[0]) failed: \(message)")
                    failed = true
                } else if case .failure = result {
                    failed = true
                }
                remaining -= 1
                if remaining == 0 { finish(!failed) }
            }
        }
    }

    private func disconnected() {
        // hiredis has already failed every pending callback with a NULL reply, and frees the
        // context after we return.
        context = nil
        timedOut = false
        inFlight.removeAll()
        inHandshake = false
        if state == .ready { logger.warning("redis connection lost", metadata: ["host": "\(url.host):\(url.port)"]) }
        setState(.down)
        scheduleReconnect()
    }

    private func scheduleReconnect() {
        guard !closed else { return }
        let jitter = Int.random(in: 0...(backoffMilliseconds / 4 + 1))
        let delay = backoffMilliseconds + jitter
        backoffMilliseconds = min(backoffMilliseconds * 2, 3000)
        loop.schedule(after: .milliseconds(delay)) { [weak self] in self?.connect() }
    }

    private func setState(_ new: State) {
        guard state != new else { return }
        state = new
        onStateChange?(new)
    }

    /// Our own connect and command timeouts (hiredis 0.14.1 has none for async contexts).
    private func watchdog() {
        guard let context else { return }
        let now = MonotonicClock.now()
        if state == .connecting, !inHandshake, now &- connectStartedAt > 2_000_000_000 {
            logger.warning("redis connect timed out", metadata: ["host": "\(url.host):\(url.port)"])
            redisAsyncDisconnect(context)
            return
        }
        if let oldest = inFlight.first, now &- oldest > commandTimeoutNanoseconds {
            logger.warning("redis command timed out: dropping the connection", metadata: ["pending": "\(inFlight.count)"])
            timedOut = true
            redisAsyncDisconnect(context)
        }
    }

    /// While set, NULL replies report `.timeout` instead of `.disconnected`.
    var timedOut = false

    func completed() {
        if !inFlight.isEmpty { inFlight.removeFirst() }
    }
}

/// Carries a Swift completion through hiredis's `void *privdata`; released exactly once.
final class ReplyBox {
    unowned let connection: RedisConnection
    let completion: (Result<RedisReply, RedisError>) -> Void

    init(connection: RedisConnection, completion: @escaping (Result<RedisReply, RedisError>) -> Void) {
        self.connection = connection
        self.completion = completion
    }

    func complete(_ reply: RedisReply?) {
        guard let reply else {
            completion(.failure(connection.timedOut ? .timeout : .disconnected))
            return
        }
        connection.completed()
        completion(.success(reply))
    }
}

/// Builds hiredis's argc/argv/argvlen over one contiguous copy of the arguments (hiredis copies
/// them into its output buffer before returning, so they only need to live for the call).
func withArgv<R>(_ arguments: [[UInt8]], _ body: (Int32, UnsafeMutablePointer<UnsafePointer<CChar>?>, UnsafePointer<Int>) -> R) -> R {
    let count = arguments.count
    var storage: [UInt8] = []
    storage.reserveCapacity(arguments.reduce(1) { $0 + $1.count })
    var offsets: [Int] = []
    offsets.reserveCapacity(count)
    for argument in arguments {
        offsets.append(storage.count)
        storage.append(contentsOf: argument)
    }
    storage.append(0)
    let pointers = UnsafeMutablePointer<UnsafePointer<CChar>?>.allocate(capacity: max(count, 1))
    let lengths = UnsafeMutablePointer<Int>.allocate(capacity: max(count, 1))
    defer {
        pointers.deallocate()
        lengths.deallocate()
    }
    return storage.withUnsafeBytes { raw in
        let base = raw.baseAddress!.assumingMemoryBound(to: CChar.self)
        for i in 0..<count {
            pointers[i] = UnsafePointer(base + offsets[i])
            lengths[i] = arguments[i].count
        }
        return body(Int32(count), pointers, lengths)
    }
}
