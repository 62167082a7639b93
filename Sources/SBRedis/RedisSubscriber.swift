import CHiredis
public import Logging
public import SBEventLoop

/// The Pub/Sub side: its own connection (a subscribed connection can do nothing else) that
/// subscribes to one channel and hands every message's payload to `onMessage` on its loop.
/// After any reconnect it subscribes again and calls `onSubscribed(true)`, so the owner can fill
/// what was missed while it was away.
public final class RedisSubscriber: @unchecked Sendable {
    public let connection: RedisConnection
    public let channel: String
    private let onMessage: ([UInt8]) -> Void
    private let onSubscribed: (_ afterReconnect: Bool) -> Void
    private var subscribedOnce = false

    public init(loop: EventLoop, url: RedisURL, channel: String, logger: Logger,
                onMessage: @escaping ([UInt8]) -> Void, onSubscribed: @escaping (_ afterReconnect: Bool) -> Void) {
        connection = RedisConnection(loop: loop, url: url, logger: logger)
        self.channel = channel
        self.onMessage = onMessage
        self.onSubscribed = onSubscribed
        connection.onConnect = { [unowned self] connection, finish in
            connection.authenticateAndSelect { ok in
                if ok { self.subscribe() }
                finish(ok)
            }
        }
    }

    public var isSubscribed: Bool { connection.isReady && subscribedOnce }

    public func start() { connection.start() }

    public func close() { connection.close() }

    private func subscribe() {
        guard let context = connection.context else { return }
        let arguments = [Array("SUBSCRIBE".utf8), Array(channel.utf8)]
        // The callback stays registered for every message of the channel, so privdata is an
        // unretained reference to self (which outlives the context), not a one-shot box.
        let me = Unmanaged.passUnretained(self).toOpaque()
        _ = withArgv(arguments) { argc, argv, lengths in
            redisAsyncCommandArgv(context, { _, reply, privdata in
                guard let reply, let privdata else { return }  // NULL: the link dropped
                let subscriber = Unmanaged<RedisSubscriber>.fromOpaque(privdata).takeUnretainedValue()
                subscriber.handle(RedisReply(UnsafePointer(reply.assumingMemoryBound(to: redisReply.self))))
            }, me, argc, argv, lengths)
        }
    }

    private func handle(_ reply: RedisReply) {
        guard case .array(let parts) = reply, parts.count >= 3, case .string(let kind) = parts[0] else { return }
        switch String(decoding: kind, as: UTF8.self) {
        case "message":
            if case .string(let payload) = parts[2] { onMessage(payload) }
        case "subscribe":
            let again = subscribedOnce
            subscribedOnce = true
            onSubscribed(again)
        default:
            break
        }
    }
}
