import DequeModule
import SBCore
import SBEventLoop
import SBServer
import SBStore

/// One dashboard on `/ws`: its subscriptions and its message handling. Lives on its loop.
final class HubClient: WebSocketHandler {
    unowned let loopHub: LoopHub
    /// The client id's 128 bits; the text is made only when a message carries it.
    private let clientIdBits: (UInt64, UInt64)
    /// Strong, and cleared in `closed`: a weak reference would give every connection a
    /// side table for its whole life (idle memory per connection).
    var connection: (any WebSocketConnection)?
    var subscriptions = SubscriptionSet()
    /// The key (`.full`) or the token this connection opened with, replaced by each `refresh`.
    var access: Access
    var tokenExpiry: TokenExpiryStateMachine?
    var tokenTimer: TimerHandle?
    private var limiter: TokenBucket?
    private var strikes = 0
    /// History reads wait here for their turn: one page in flight per client, and only while
    /// its unsent bytes are at or below the low-water mark, so a replay never outruns the
    /// client's reading and never gets it cut off.
    private var readQueue = Deque<(subscription: Subscription, after: Int64)>()
    private var readInFlight = false
    private var waitingForDrain = false
    private var pumpScheduled = false

    init(loopHub: LoopHub, access: Access, messagesPerSecond: Double) {
        self.loopHub = loopHub
        self.access = access
        self.clientIdBits = IDGenerator.nextBits()
        if messagesPerSecond > 0 {
            limiter = TokenBucket(rate: messagesPerSecond, burst: messagesPerSecond)
        }
    }

    var clientId: String { IDGenerator.format(uuid: clientIdBits) }

    func opened(_ connection: any WebSocketConnection) {
        self.connection = connection
        send(["type": "subscription_confirmed",
              "payload": ["clientId": clientId, "instanceId": loopHub.hub.configuration.instanceId, "message": "connected to switchboard"]])
        startTokenExpiry()
    }

    func closed(_ connection: any WebSocketConnection) {
        stopTokenExpiry()
        for subscription in subscriptions.values { loopHub.remove(subscription) }
        subscriptions.removeAll()
        readQueue.removeAll()
        self.connection = nil
    }

    func sendQueueDrained(_ connection: any WebSocketConnection) {
        waitingForDrain = false
        pumpReads()
    }

    // MARK: Paced history reads

    var lowWaterBytes: Int { loopHub.hub.configuration.replayLowWaterBytes }

    /// `events: false` reads only the stream's epoch and seqs: no bytes to pace, so it skips
    /// the queue (a plain subscribe is confirmed at once even while another session replays).
    func requestRead(for subscription: Subscription, after: Int64, events: Bool) {
        guard events else {
            read(subscription, after: after, limit: PageLimit(count: 0, bytes: 0), gated: false)
            return
        }
        readQueue.append((subscription, after))
        pumpReads()
    }

    private func pumpReads() {
        while !readInFlight, !readQueue.isEmpty, let connection {
            guard connection.queuedBytes <= lowWaterBytes else {
                if !waitingForDrain {
                    waitingForDrain = true
                    connection.notifyWhenDrained(below: lowWaterBytes)
                }
                return
            }
            let next = readQueue.removeFirst()
            guard next.subscription.active else { continue }
            read(next.subscription, after: next.after, limit: loopHub.hub.configuration.replayPage, gated: true)
        }
    }

    /// Strong captures here and in `schedulePump`, on purpose: the closures are short-lived
    /// (one read, one loop turn), and a `weak` capture would give every client a weak-reference
    /// side table for its whole life (idle memory per connection).
    private func read(_ subscription: Subscription, after: Int64, limit: PageLimit, gated: Bool) {
        if gated { readInFlight = true }
        loopHub.store.readStream(sessionId: subscription.sessionId, after: after, limit: limit) { [self] result in
            if subscription.active {
                switch result {
                case .success(let page): subscription.perform(subscription.machine.pageRead(page))
                case .failure: subscription.perform(subscription.machine.readFailed())
                }
            }
            guard gated else { return }
            readInFlight = false
            schedulePump()
        }
    }

    /// The next page is read on the next loop turn: a synchronous store (memory) would
    /// otherwise recurse page after page, and the bytes just queued get a chance to leave.
    private func schedulePump() {
        guard !pumpScheduled else { return }
        pumpScheduled = true
        loopHub.loop.schedule(after: .zero) { [self] in
            pumpScheduled = false
            pumpReads()
        }
    }

    func received(binary: [UInt8], from connection: any WebSocketConnection) {
        sendError("binary messages are not supported; send JSON text", code: "unsupported_data")
    }

    func received(text: [UInt8], from connection: any WebSocketConnection) {
        if limiter != nil, !limiter!.take(now: MonotonicClock.now()) {
            strikes += 1
            // Sustained abuse (a second of messages past the limit) ends the connection.
            if strikes > Int(limiter!.rate) {
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
        case "ping": send(["type": "pong", "clientId": clientId])
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
            subscription = Subscription(client: self, sessionId: sessionId, heldByteLimit: loopHub.hub.configuration.replayHeldBytes)
            subscriptions[sessionId] = subscription
            loopHub.add(subscription)
        }
        subscription.perform(subscription.machine.subscribe(lastEventId: lastEventId, epoch: epoch))
    }

    func confirm(_ sessionId: String, _ confirmation: SubscriptionStateMachine.Confirmation) {
        send(["type": "subscription_confirmed", "sessionId": sessionId,
              "payload": ["clientId": clientId, "sessionId": sessionId, "message": "subscribed to \(sessionId)",
                          "epoch": confirmation.epoch, "lastSeq": confirmation.lastSeq,
                          "oldestSeq": confirmation.oldestSeq, "recovered": confirmation.recovered]])
    }

    func sendSessionDeleted(_ sessionId: String, epoch: String) {
        send(["type": "session_deleted", "sessionId": sessionId, "epoch": epoch,
              "payload": ["sessionId": sessionId, "epoch": epoch]])
    }

    private func unsubscribe(_ message: ClientMessage) {
        guard let sessionId = sessionId(message) else { return }
        if let subscription = subscriptions.removeValue(forKey: sessionId) {
            loopHub.remove(subscription)
        }
        send(["type": "unsubscribed", "sessionId": sessionId])
    }

    private func input(_ message: ClientMessage) {
        guard let sessionId = sessionId(message), permits(.input, sessionId) else { return }
        // The payload is passed on re-serialized inside the queued item: a Foundation value,
        // built from its bytes only here (input is rare next to subscribe and ping).
        let payload = message.foundationValue(.payload)
        let item = QueueAPI.inputItem(sessionId: sessionId, input: payload, prompt: nil)
        loopHub.store.enqueue(.input, sessionId: sessionId, item: QueuedItem(json: item.json), push: item.push) { [weak self] result in
            switch result {
            case .success: self?.send(["type": "input_queued", "sessionId": sessionId])
            case .failure: self?.sendError("storage unavailable: input not queued", code: "unavailable")
            }
        }
    }

    func send(_ object: [String: Any]) {
        connection?.sendText(JSONBody.encode(object))
    }

    func sendError(_ message: String, code: String, sessionId: String? = nil) {
        var payload: [String: Any] = ["message": message, "code": code]
        if let sessionId { payload["sessionId"] = sessionId }
        send(["type": "error", "payload": payload])
    }
}

/// `/echo`: every message back as it came, for the Autobahn conformance suite.
final class EchoHandler: WebSocketHandler {
    func opened(_ connection: any WebSocketConnection) {}
    func closed(_ connection: any WebSocketConnection) {}
    func received(text: [UInt8], from connection: any WebSocketConnection) { connection.sendText(text) }
    func received(binary: [UInt8], from connection: any WebSocketConnection) { connection.sendBinary(binary) }
}
