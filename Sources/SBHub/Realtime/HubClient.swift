import CoreMetrics
import DequeModule
import SBCore
import SBWebSocket
import SBEventLoop
import SBServer
import SBStore

/// One dashboard on `/ws`: its subscriptions and its message handling. Lives on its loop.
final class HubClient: WebSocketHandler, Subscriber {
    unowned let loopHub: LoopHub
    /// The client id's 128 bits; the text is made only when a message carries it.
    private let clientIdBits: (UInt64, UInt64)
    /// Strong, and cleared in `closed`: a weak reference would give every connection a
    /// side table for its whole life (idle memory per connection).
    var connection: (any WebSocketConnection)?
    /// The key (`.full`) or the token this connection opened with, replaced by each `refresh`.
    var access: Access
    /// Only for connections opened with a token: its expiry machine and timer.
    var tokenLease: TokenLease?
    var readGate = ReadGate()
    private var strikes: Int32 = 0
    /// Used only when the hub has a limit (`wsMessageRate`); only the bucket's state is per
    /// connection, and it is not optional (an optional Double-based value costs a padded word).
    private var limiter = TokenBucket()
    // Last: its odd size (9 bytes) then costs no padding at the end of the object.
    var subscriptions = SubscriptionSet()

    init(loopHub: LoopHub, access: Access) {
        self.loopHub = loopHub
        self.access = access
        self.clientIdBits = IDGenerator.nextBits()
    }

    var clientId: String { IDGenerator.format(uuid: clientIdBits) }

    func opened(_ connection: any WebSocketConnection) {
        self.connection = connection
        send(.connected(clientId: clientId, instanceId: loopHub.hub.configuration.instanceId))
        startTokenExpiry()
    }

    func closed(_ connection: any WebSocketConnection) {
        stopTokenExpiry()
        for subscription in subscriptions.values { loopHub.remove(subscription) }
        subscriptions.removeAll()
        clearReadGate()
        self.connection = nil
    }

    func sendQueueDrained(_ connection: any WebSocketConnection) {
        readGateDrained()
    }

    // MARK: Subscriber

    var pacedQueuedBytes: Int? { connection?.queuedBytes }

    func askDrainNotice(below lowWater: Int) {
        connection?.notifyWhenDrained(below: lowWater)
    }

    func sendLive(_ message: SharedBytes) -> SendStatus {
        connection?.sendFrame(message) ?? .dropped
    }

    func liveFrame(for frame: BroadcastFrame) -> SharedBytes {
        connection?.frame(for: frame) ?? frame.plain
    }

    func send(_ message: HubMessage) {
        connection?.sendText(message.json)
    }

    func sendPaced(_ message: HubMessage) -> SendStatus {
        connection?.sendReplayText(message.json) ?? .dropped
    }

    func received(binary: [UInt8], from connection: any WebSocketConnection) {
        sendError("binary messages are not supported; send JSON text", code: "unsupported_data")
    }

    func received(text: [UInt8], from connection: any WebSocketConnection) {
        if let rate = loopHub.hub.wsMessageRate, !limiter.take(now: MonotonicClock.now(), rate) {
            strikes += 1
            // Sustained abuse (a second of messages past the limit) ends the connection.
            if Double(strikes) > rate.rate {
                connection.close(code: 1008, reason: "message rate limit exceeded")
            } else {
                sendError("rate limit exceeded: message ignored", code: "rate_limited")
            }
            return
        }
        strikes = 0
        let message: ClientMessage
        switch ClientMessage.parse(text) {
        case .success(let parsed): message = parsed
        case .failure(.notAnObject):
            sendError("message is not a JSON object", code: "invalid_json")
            return
        case .failure(.repeated(let name)):
            sendError("\(name) appears more than once; each field may be given once", code: "invalid_message")
            return
        }
        guard let type = message.string(.type) else {
            sendError("type is required and must be a string", code: "invalid_message")
            return
        }
        switch type {
        case "subscribe": subscribe(message)
        case "unsubscribe": unsubscribe(message)
        case "ping":
            send(.pong(clientId: clientId))
        case "presence": presence(message)
        case "input": input(message)
        case "refresh": refresh(message)
        default: sendError("unknown message type '\(type)'", code: "unknown_type")
        }
    }

    private func sessionId(_ message: ClientMessage) -> String? {
        guard let id = message.string(.sessionId), Field.isValidSessionId(id) else {
            sendError("sessionId \(Field.sessionIdRule)", code: "invalid_session_id")
            return nil
        }
        return id
    }

    private func subscribe(_ message: ClientMessage) {
        guard let sessionId = sessionId(message), permits(.subscribe, sessionId) else { return }
        var lastEventId: Int64?
        switch message.nonNegativeInteger(.lastEventId) {
        case .absent: break
        case .value(let number): lastEventId = number
        case .invalid:
            sendError("lastEventId must be a non-negative integer", code: "invalid_last_event_id")
            return
        }
        var wantsPresence = false
        switch message.bool(.presence) {
        case nil: break
        case .some(let value?): wantsPresence = value
        case .some(nil):
            sendError("presence must be true or false", code: "invalid_message")
            return
        }
        var epoch: String?
        if message.member(.epoch).isGiven {
            guard let text = message.string(.epoch), !text.isEmpty, text.utf8.count <= 64 else {
                sendError("epoch must be a string of 1-64 characters", code: "invalid_epoch")
                return
            }
            epoch = text
        }
        let subscription: Subscription
        if let existing = subscriptions[sessionId] {
            subscription = existing
        } else {
            let limit = loopHub.hub.configuration.maxSubscriptionsPerConnection
            guard subscriptions.count < limit else {
                sendError("at most \(limit) subscriptions per connection; unsubscribe first", code: "too_many_subscriptions")
                return
            }
            let format: Subscription.Format = connection?.compressesMessages == true ? .webSocketDeflate : .webSocket
            subscription = Subscription(client: self, format: format, sessionId: sessionId)
            subscription.wantsPresence = wantsPresence
            subscriptions[sessionId] = subscription
            loopHub.add(subscription)
        }
        // A repeated subscribe sets the presence option again (true or false; absent: false).
        loopHub.setWantsPresence(subscription, wantsPresence)
        subscription.perform(subscription.machine.subscribe(lastEventId: lastEventId, epoch: epoch))
        // Watchers get the current presence once, then its joins and leaves.
        if wantsPresence { loopHub.sendPresenceSnapshot(to: self, sessionId: sessionId) }
    }

    /// `{"type":"presence","sessionId":…}`: the session's presence as a `presence` message
    /// (needs `read` or `subscribe` on the session with a token; counted by WS_RATE_LIMIT
    /// like every message).
    private func presence(_ message: ClientMessage) {
        guard let sessionId = sessionId(message) else { return }
        guard access.allows(.read, on: sessionId) || access.allows(.subscribe, on: sessionId) else {
            sendError(Access.denial(.read, sessionId), code: "forbidden", sessionId: sessionId)
            return
        }
        loopHub.sendPresenceSnapshot(to: self, sessionId: sessionId)
    }

    // MARK: Presence identity

    var presenceInfo: [UInt8] { access.presenceInfo }

    private func unsubscribe(_ message: ClientMessage) {
        guard let sessionId = sessionId(message) else { return }
        if let subscription = subscriptions.removeValue(forKey: sessionId) {
            loopHub.remove(subscription)
        }
        send(.unsubscribed(sessionId: sessionId))
    }

    private func input(_ message: ClientMessage) {
        guard let sessionId = sessionId(message), permits(.input, sessionId) else { return }
        // The payload is passed on re-serialized inside the queued item: a Foundation value,
        // built from its bytes only here (input is rare next to subscribe and ping).
        let payload = message.foundationValue(.payload)
        let item = QueueAPI.inputItem(sessionId: sessionId, input: payload, prompt: nil)
        loopHub.store.enqueue(.input, sessionId: sessionId, item: QueuedItem(json: item.json)) { [weak self] result in
            switch result {
            case .success:
                self?.send(.inputQueued(sessionId: sessionId))
            case .failure(.outOfMemory(let reason)):
                self?.loopHub.hub.metrics.storeOutOfMemory.increment()
                self?.sendError("input not queued: \(reason)", code: "out_of_memory")
            case .failure: self?.sendError("storage unavailable: input not queued", code: "unavailable")
            }
        }
    }
}

/// `/echo`: every message back as it came, for the Autobahn conformance suite.
final class EchoHandler: WebSocketHandler {
    func opened(_ connection: any WebSocketConnection) {}
    func closed(_ connection: any WebSocketConnection) {}
    func received(text: [UInt8], from connection: any WebSocketConnection) { connection.sendText(text) }
    func received(binary: [UInt8], from connection: any WebSocketConnection) { connection.sendBinary(binary) }
}
