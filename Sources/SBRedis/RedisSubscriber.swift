import CHiredis
public import Logging
import SBCore
public import SBEventLoop
import Synchronization

/// The Pub/Sub side: its own connection (a subscribed connection can do nothing else),
/// subscribed to one base channel and, in per-session channel mode, to the channels its owner
/// asks for (`watch` / `unwatch`), handing every message payload to `onMessage` on its loop.
///
/// Whenever the connection comes back (after any drop) it subscribes again — the watched
/// channels first, the base channel last, so that when the base channel is confirmed every
/// channel is too — and then calls `onResubscribed`: messages published while it was away are
/// lost to it, and the owner refills them from history. A channel watched while connected is
/// confirmed through `onChannelSubscribed(channel, refill: true)`: its session must read what
/// was published between its subscriber's first read and the SUBSCRIBE.
///
/// A silent network or a stalled server would leave a subscribed connection waiting forever, so
/// every `heartbeat` it re-sends SUBSCRIBE for the base channel (harmless; Redis confirms again)
/// and drops the connection if the previous confirmation has not arrived by then. Plain PING
/// cannot serve: hiredis 0.14.1 misroutes its reply on a subscribed context.
///
/// hiredis keeps one callback per channel and calls it for every message, once with NULL when
/// the context is freed. The callback's privdata is the context's `HiredisAdapter`, which
/// hiredis keeps alive until after those calls; the adapter forwards to this subscriber through
/// a weak reference, so no reference counting crosses hiredis.
///
/// Confinement as for `RedisConnection`: loop thread, except `isSubscribed`.
public final class RedisSubscriber: @unchecked Sendable {
    public let connection: RedisConnection
    public let channel: String
    private let logger: Logger
    private let heartbeat: Duration
    private let onMessage: ([UInt8]) -> Void
    private let onResubscribed: () -> Void
    /// Per-session channel mode: a watched channel was confirmed.
    public var onChannelSubscribed: ((String, _ refill: Bool) -> Void)?
    private let subscribedFlag = Atomic<Bool>(false)
    private var everSubscribed = false
    /// When the unconfirmed base SUBSCRIBE was sent.
    private var awaitingSince: UInt64?
    private var heartbeatTimer: TimerHandle?
    private var watched = ChannelSubscriptions()

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

    /// Subscribed to the base channel and confirmed by Redis. Any thread.
    public var isSubscribed: Bool { subscribedFlag.load(ordering: .acquiring) }

    /// How many per-session channels are wanted or held. Loop thread.
    public var watchedCount: Int { watched.channels.count }

    /// Loop thread.
    public func start() {
        connection.onStateChange = { [weak self] state in
            guard let self else { return }
            if state == .ready {
                let refillEach = !everSubscribed
                send(watched.connectionReady(refill: refillEach))
                subscribeBase()
            } else {
                subscribedFlag.store(false, ordering: .releasing)
                awaitingSince = nil
                watched.connectionLost()
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

    /// Per-session channel mode: hold `channel` (idempotent). Loop thread.
    public func watch(_ channel: String) { send(watched.want(channel)) }

    /// Per-session channel mode: let `channel` go (idempotent). Loop thread.
    public func unwatch(_ channel: String) { send(watched.unwant(channel)) }

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
        subscribeBase()
    }

    private func subscribeBase() {
        guard issue(["SUBSCRIBE", channel]) else { return }
        if awaitingSince == nil { awaitingSince = connection.clock.nowNanoseconds() }
    }

    private func send(_ action: ChannelSubscriptions.Action) {
        switch action {
        case .none:
            break
        case .subscribe(let channels):
            _ = issue(RedisArguments(["SUBSCRIBE"] + channels))
        case .unsubscribe(let channels):
            _ = issue(RedisArguments(["UNSUBSCRIBE"] + channels))
        case .confirmed(let channel, let refill):
            onChannelSubscribed?(channel, refill)
        }
    }

    /// Sends a (UN)SUBSCRIBE on the current context with the adapter as privdata (see above).
    private func issue(_ request: RedisArguments) -> Bool {
        guard let adapter = connection.current, !adapter.released, connection.state == .ready else { return false }
        adapter.pushHandler = { [weak self] reply in self?.received(reply) }
        let privdata = Unmanaged.passUnretained(adapter).toOpaque()
        let status = connection.withinHiredis {
            request.withFormattedCommand { command, length in
                redisAsyncFormattedCommand(adapter.context, { _, reply, privdata in
                    guard let reply, let adapter = HiredisAdapter.from(privdata) else { return }  // NULL: the context is being freed
                    let copied = RedisReply(copying: UnsafePointer(reply.assumingMemoryBound(to: redisReply.self)))
                    adapter.owner.withinHiredis { adapter.pushHandler?(copied) }
                }, privdata, command, length)
            }
        }
        return status == REDIS_OK
    }

    private func received(_ reply: RedisReply) {
        guard case .array(let parts) = reply, parts.count >= 3, case .string(let kind) = parts[0],
              case .string(let name) = parts[1] else { return }
        let replyChannel = String(decoding: name, as: UTF8.self)
        switch kind {
        case Array("message".utf8):
            if case .string(let payload) = parts[2] { onMessage(payload) }
        case Array("subscribe".utf8) where replyChannel == channel:
            awaitingSince = nil
            guard !isSubscribed else { return }  // a heartbeat confirmation
            subscribedFlag.store(true, ordering: .releasing)
            if everSubscribed {
                logger.info("redis subscription re-established", metadata: ["channel": "\(channel)"])
                onResubscribed()
            }
            everSubscribed = true
        case Array("subscribe".utf8):
            send(watched.subscribeConfirmed(replyChannel))
        case Array("unsubscribe".utf8):
            send(watched.unsubscribeConfirmed(replyChannel))
        default:
            break
        }
    }
}
