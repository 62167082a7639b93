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
/// and drops the connection if the previous confirmation has not arrived by then: the answer
/// proves the subscription itself is alive, which a PING would not.
///
/// The connection is a subscriber connection (`RedisConnectionStateMachine.Role`): every push
/// Redis sends (`message`, `smessage`, `pmessage`, the (un)subscribe confirmations, and the
/// `sunsubscribe` Redis Cluster sends unasked when a slot moves) is routed by its state machine
/// to `received` here; (UN)SUBSCRIBE go out with no pending reply of their own.
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
    /// Sharded: Redis let go of a watched channel unasked (its slot moved), or refused a
    /// SSUBSCRIBE (`MOVED`): the owner finds the slot's master again.
    public var onChannelLost: ((_ channel: String?) -> Void)?
    /// The connection dropped (it reconnects by itself).
    public var onConnectionDown: (() -> Void)?
    /// Watched channels are shard channels (Redis Cluster): SSUBSCRIBE / SUNSUBSCRIBE. The
    /// base channel stays a classic one, which every node serves.
    private let sharded: Bool
    private let subscribedFlag = Atomic<Bool>(false)
    private var everSubscribed = false
    /// When the unconfirmed base SUBSCRIBE was sent.
    private var awaitingSince: UInt64?
    private var heartbeatTimer: TimerHandle?
    private var watched = ChannelSubscriptions()

    public init(loop: EventLoop, url: RedisURL, channel: String, logger: Logger, heartbeat: Duration = .seconds(5),
                sentinel: SentinelSettings? = nil, resolver: any RedisResolver = ThreadResolver(), sharded: Bool = false,
                onMessage: @escaping ([UInt8]) -> Void, onResubscribed: @escaping () -> Void) {
        self.sharded = sharded
        connection = RedisConnection(loop: loop, url: url, logger: logger, scripts: [], commandTimeout: .seconds(2),
                                     connectTimeout: .seconds(2), sentinel: sentinel, resolver: resolver,
                                     masterCheckInterval: .seconds(2), clock: SystemMonotonicClock(), role: .subscriber)
        self.channel = channel
        self.logger = logger
        self.heartbeat = heartbeat
        self.onMessage = onMessage
        self.onResubscribed = onResubscribed
    }

    /// Subscribed to the base channel and confirmed by Redis. Any thread.
    public var isSubscribed: Bool { subscribedFlag.load(ordering: .acquiring) }

    /// Loop thread.
    public func start() {
        connection.onPush = { [weak self] push in self?.received(push) }
        if sharded {
            connection.onErrorReply = { [weak self] message in
                self?.logger.info("redis refused a shard subscription", metadata: ["reply": "\(message)"])
                self?.onChannelLost?(nil)
            }
        }
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
                if state == .down { onConnectionDown?() }
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
            // A shard channel per command: one SSUBSCRIBE must not span slots.
            if sharded {
                for channel in channels { _ = issue(["SSUBSCRIBE", channel]) }
            } else {
                _ = issue(RedisArguments(["SUBSCRIBE"] + channels))
            }
        case .unsubscribe(let channels):
            if sharded {
                for channel in channels { _ = issue(["SUNSUBSCRIBE", channel]) }
            } else {
                _ = issue(RedisArguments(["UNSUBSCRIBE"] + channels))
            }
        case .confirmed(let channel, let refill):
            onChannelSubscribed?(channel, refill)
        case .dropped(let channel):
            onChannelLost?(channel)
        }
    }

    /// Sends a (UN)SUBSCRIBE; its confirmations come back as pushes. False when not ready.
    private func issue(_ request: RedisArguments) -> Bool {
        connection.state == .ready && connection.sendUnanswered(request)
    }

    private func received(_ push: RedisPush) {
        switch push.kind {
        case .message, .smessage, .pmessage:
            if let payload = push.payload { onMessage(payload) }
        case .subscribe where push.channelName == channel:
            awaitingSince = nil
            guard !isSubscribed else { return }  // a heartbeat confirmation
            subscribedFlag.store(true, ordering: .releasing)
            if everSubscribed {
                logger.info("redis subscription re-established", metadata: ["channel": "\(channel)"])
                onResubscribed()
            }
            everSubscribed = true
        case .subscribe, .ssubscribe:
            if let name = push.channelName { send(watched.subscribeConfirmed(name)) }
        case .unsubscribe, .sunsubscribe:
            if let name = push.channelName { send(watched.unsubscribeConfirmed(name)) }
        case .psubscribe, .punsubscribe:
            break
        }
    }
}
