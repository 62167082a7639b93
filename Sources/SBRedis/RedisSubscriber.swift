import CHiredis
public import Logging
import SBCore
public import SBEventLoop
import Synchronization

/// The Pub/Sub side: its own connection (a subscribed connection can do nothing else),
/// subscribed to one channel, handing every message payload to `onMessage` on its loop.
///
/// Whenever the connection comes back (after any drop) it subscribes again, and once Redis
/// confirms, calls `onResubscribed`: messages published while it was away are lost to it, and
/// the owner refills them from history.
///
/// A silent network or a stalled server would leave a subscribed connection waiting forever, so
/// every `heartbeat` it re-sends SUBSCRIBE for the same channel (harmless; Redis confirms again)
/// and drops the connection if the previous confirmation has not arrived by then. Plain PING
/// cannot serve: hiredis 0.14.1 misroutes its reply on a subscribed context.
///
/// Confinement as for `RedisConnection`: loop thread, except `isSubscribed`.
public final class RedisSubscriber: @unchecked Sendable {
    public let connection: RedisConnection
    public let channel: String
    private let logger: Logger
    private let heartbeat: Duration
    private let onMessage: ([UInt8]) -> Void
    private let onResubscribed: () -> Void
    private let subscribedFlag = Atomic<Bool>(false)
    private var everSubscribed = false
    /// When the unconfirmed SUBSCRIBE was sent.
    private var awaitingSince: UInt64?
    private var heartbeatTimer: TimerHandle?

    public init(loop: EventLoop, url: RedisURL, channel: String, logger: Logger, heartbeat: Duration = .seconds(5),
                sentinel: SentinelSettings? = nil, resolver: any RedisResolver = ThreadResolver(),
                onMessage: @escaping ([UInt8]) -> Void, onResubscribed: @escaping () -> Void) {
        connection = RedisConnection(loop: loop, url: url, logger: logger, sentinel: sentinel, resolver: resolver)
        self.channel = channel
        self.logger = logger
        self.heartbeat = heartbeat
        self.onMessage = onMessage
        self.onResubscribed = onResubscribed
    }

    /// Subscribed and confirmed by Redis. Any thread.
    public var isSubscribed: Bool { subscribedFlag.load(ordering: .acquiring) }

    /// Loop thread.
    public func start() {
        connection.onStateChange = { [weak self] state in
            guard let self else { return }
            if state == .ready {
                subscribe()
            } else {
                subscribedFlag.store(false, ordering: .releasing)
                awaitingSince = nil
            }
        }
        heartbeatTimer = connection.loop.scheduleRepeating(every: heartbeat) { [weak self] in self?.beat() }
        connection.start()
    }

    /// Loop thread.
    public func close() {
        if let heartbeatTimer { connection.loop.cancel(heartbeatTimer) }
        heartbeatTimer = nil
        connection.close()
    }

    private func beat() {
        guard connection.state == .ready else { return }
        if let since = awaitingSince {
            let waited = connection.clock.nowNanoseconds() &- since
            if waited >= RedisConnection.nanoseconds(heartbeat) {
                logger.warning("redis subscription unresponsive: reconnecting", metadata: ["channel": "\(channel)"])
                connection.drop(.timeout)
            }
            return
        }
        subscribe()
    }

    /// Sends SUBSCRIBE. The first one on a context passes hiredis a +1 reference to self: the
    /// channel's callback stays registered for every message and is called once more, with
    /// NULL, when the context is freed, which is where that reference is released. Later
    /// SUBSCRIBEs (heartbeats) replace the registration without hiredis calling the old one, so
    /// they pass the same pointer unretained.
    private func subscribe() {
        guard let adapter = connection.current, !adapter.released else { return }
        let firstOnContext = !adapter.hasSubscription
        let me = firstOnContext ? Unmanaged.passRetained(self).toOpaque() : Unmanaged.passUnretained(self).toOpaque()
        let request = RedisArguments(["SUBSCRIBE", channel])
        let status = connection.withinHiredis {
            request.withFormattedCommand { command, length in
                redisAsyncFormattedCommand(adapter.context, { _, reply, privdata in
                    guard let privdata else { return }
                    let subscriber = Unmanaged<RedisSubscriber>.fromOpaque(privdata)
                    guard let reply else {
                        subscriber.release()  // the context is being freed: this is the last call
                        return
                    }
                    let copied = RedisReply(copying: UnsafePointer(reply.assumingMemoryBound(to: redisReply.self)))
                    let target = subscriber.takeUnretainedValue()
                    target.connection.withinHiredis { target.received(copied) }
                }, me, command, length)
            }
        }
        guard status == REDIS_OK else {
            if firstOnContext { Unmanaged<RedisSubscriber>.fromOpaque(me).release() }
            return
        }
        adapter.hasSubscription = true
        if awaitingSince == nil { awaitingSince = connection.clock.nowNanoseconds() }
    }

    private func received(_ reply: RedisReply) {
        guard case .array(let parts) = reply, parts.count >= 3, case .string(let kind) = parts[0] else { return }
        switch kind {
        case Array("message".utf8):
            if case .string(let payload) = parts[2] { onMessage(payload) }
        case Array("subscribe".utf8):
            awaitingSince = nil
            guard !isSubscribed else { return }  // a heartbeat confirmation
            subscribedFlag.store(true, ordering: .releasing)
            if everSubscribed {
                logger.info("redis subscription re-established", metadata: ["channel": "\(channel)"])
                onResubscribed()
            }
            everSubscribed = true
        default:
            break
        }
    }
}
