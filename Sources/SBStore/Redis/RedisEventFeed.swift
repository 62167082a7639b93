import Foundation
import SBCore
public import Logging
public import SBEventLoop
public import SBRedis

/// The instance's subscription to one shard: to `P events`, or (REDIS_CHANNEL_MODE=session) to
/// the channels of the sessions its clients watch. Parses each channel message into a
/// `BusMessage` for the hub, and after every resubscribe tells it to refill from history.
public final class RedisEventFeed: @unchecked Sendable {
    public let subscriber: RedisSubscriber
    let logger: Logger

    let keys: RedisKeys
    /// REDIS_CHANNEL_MODE=session: subscribed to the channels of watched sessions only (plus a
    /// heartbeat channel), not to `P events`.
    public let sessionChannels: Bool

    public init(loop: EventLoop, url: RedisURL, sentinel: SentinelSettings? = nil, prefix: String, logger: Logger,
                listener: any BusListener, sessionChannels: Bool = false) {
        self.logger = logger
        let keys = RedisKeys(prefix: prefix)
        self.keys = keys
        self.sessionChannels = sessionChannels
        subscriber = RedisSubscriber(
            loop: loop, url: url, channel: sessionChannels ? keys.heartbeatChannel : keys.channel, logger: logger, sentinel: sentinel,
            onMessage: RedisChannelMessage.receiver(listener: listener, logger: logger, channel: "the events channel"),
            onResubscribed: {
                logger.info("refilling local subscribers from history after the resubscribe")
                listener.busResynchronized()
            })
        subscriber.onChannelSubscribed = { channel, refill in
            guard refill, let sessionId = keys.sessionId(ofChannel: channel) else { return }
            listener.busResynchronized(sessionId: sessionId)
        }
    }

    /// Session mode: hold / let go of the session's channel (idempotent). Loop thread.
    public func watch(sessionId: String) { subscriber.watch(keys.sessionChannel(sessionId)) }
    public func unwatch(sessionId: String) { subscriber.unwatch(keys.sessionChannel(sessionId)) }

    public var isSubscribed: Bool { subscriber.isSubscribed }

    public var loop: EventLoop { subscriber.connection.loop }

    public func start() { subscriber.start() }

    public func close() { subscriber.close() }
}
