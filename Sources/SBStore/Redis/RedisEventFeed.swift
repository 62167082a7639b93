import Foundation
import SBCore
public import Logging
public import SBEventLoop
public import SBRedis

/// The instance's one subscription to `P events`: parses each channel message into a
/// `BusMessage` for the hub, and after every resubscribe tells it to refill from history.
public final class RedisEventFeed: @unchecked Sendable {
    public let subscriber: RedisSubscriber
    let logger: Logger
    private let warnings = Locked(WarningLimiter(interval: 10_000_000_000))

    public init(loop: EventLoop, url: RedisURL, sentinel: SentinelSettings? = nil, prefix: String, logger: Logger,
                listener: any BusListener) {
        self.logger = logger
        subscriber = RedisSubscriber(
            loop: loop, url: url, channel: prefix + "events", logger: logger, sentinel: sentinel,
            onMessage: { [logger, warnings] payload in
                if let message = RedisChannelMessage.parse(payload) {
                    listener.receive(message)
                } else if let suppressed = warnings.withLock({ $0.admit(.malformedChannelMessage, now: MonotonicClock.now()) }) {
                    // Anyone with access to Redis can publish junk: log it, but never a flood.
                    logger.warning("ignored a malformed message on the events channel",
                                   metadata: ["bytes": "\(payload.count)", "suppressed": "\(suppressed)"])
                }
            },
            onResubscribed: {
                logger.info("refilling local subscribers from history after the resubscribe")
                listener.busResynchronized()
            })
    }

    public var isSubscribed: Bool { subscriber.isSubscribed }

    public var loop: EventLoop { subscriber.connection.loop }

    public func start() { subscriber.start() }

    public func close() { subscriber.close() }
}
