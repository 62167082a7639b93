import Foundation
import SBCore
import SBServer
import SBStore

/// One dashboard on `/ws`: its subscriptions and its message handling. Lives on its loop.
final class HubClient: WebSocketHandler {
    unowned let loopHub: LoopHub
    let clientId: String
    weak var connection: (any WebSocketConnection)?
    private var subscriptions: [String: Subscription] = [:]
    private var limiter: TokenBucket?
    private var strikes = 0

    init(loopHub: LoopHub, messagesPerSecond: Double) {
        self.loopHub = loopHub
        self.clientId = IDGenerator.next()
        if messagesPerSecond > 0 {
            limiter = TokenBucket(rate: messagesPerSecond, burst: messagesPerSecond)
        }
    }

    func opened(_ connection: any WebSocketConnection) {
        self.connection = connection
        send(["type": "subscription_confirmed",
              "payload": ["clientId": clientId, "instanceId": loopHub.hub.configuration.instanceId, "message": "connected to switchboard"]])
    }

    func closed(_ connection: any WebSocketConnection) {
        for subscription in subscriptions.values { loopHub.remove(subscription) }
        subscriptions.removeAll()
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
        guard let value = try? JSONSerialization.jsonObject(with: Data(text)), let message = value as? [String: Any] else {
            sendError("message is not a JSON object", code: "invalid_json")
            return
        }
        guard let type = message["type"] as? String else {
            sendError("type is required and must be a string", code: "invalid_message")
            return
        }
        switch type {
        case "subscribe": subscribe(message)
        case "unsubscribe": unsubscribe(message)
        case "ping": send(["type": "pong", "clientId": clientId])
        case "input": input(message)
        default: sendError("unknown message type '\(type)'", code: "unknown_type")
        }
    }

    private func sessionId(_ message: [String: Any]) -> String? {
        guard let id = message["sessionId"] as? String, Field.isValidSessionId(id) else {
            sendError("sessionId \(Field.sessionIdRule)", code: "invalid_session_id")
            return nil
        }
        return id
    }

    private func subscribe(_ message: [String: Any]) {
        guard let sessionId = sessionId(message) else { return }
        var lastEventId: Int64?
        if let raw = message["lastEventId"], !(raw is NSNull) {
            guard let number = (raw as? NSNumber).flatMap({ Int64(exactly: $0.doubleValue) }), number >= 0,
                  !(raw is Bool) else {
                sendError("lastEventId must be a non-negative integer", code: "invalid_last_event_id")
                return
            }
            lastEventId = number
        }
        let subscription: Subscription
        if let existing = subscriptions[sessionId] {
            subscription = existing
        } else {
            subscription = Subscription(client: self, sessionId: sessionId, lastSeq: lastEventId ?? 0)
            subscriptions[sessionId] = subscription
            loopHub.add(subscription)
        }
        if let lastEventId {
            subscription.lastSeq = max(subscription.pending == nil ? lastEventId : subscription.lastSeq, lastEventId)
            confirm(sessionId)
            loopHub.replay(sessionId: sessionId, after: lastEventId, into: [subscription]) { [weak self] ok in
                if !ok { self?.sendError("history unavailable: replay incomplete, retry with lastEventId", code: "replay_failed") }
            }
        } else {
            confirm(sessionId)
        }
    }

    private func confirm(_ sessionId: String) {
        send(["type": "subscription_confirmed", "sessionId": sessionId,
              "payload": ["clientId": clientId, "sessionId": sessionId, "message": "subscribed to \(sessionId)"]])
    }

    private func unsubscribe(_ message: [String: Any]) {
        guard let sessionId = sessionId(message) else { return }
        if let subscription = subscriptions.removeValue(forKey: sessionId) {
            loopHub.remove(subscription)
        }
        send(["type": "unsubscribed", "sessionId": sessionId])
    }

    private func input(_ message: [String: Any]) {
        guard let sessionId = sessionId(message) else { return }
        let payload = message["payload"] ?? NSNull()
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

    func sendError(_ message: String, code: String) {
        send(["type": "error", "payload": ["message": message, "code": code]])
    }
}

/// `/echo`: every message back as it came, for the Autobahn conformance suite.
final class EchoHandler: WebSocketHandler {
    func opened(_ connection: any WebSocketConnection) {}
    func closed(_ connection: any WebSocketConnection) {}
    func received(text: [UInt8], from connection: any WebSocketConnection) { connection.sendText(text) }
    func received(binary: [UInt8], from connection: any WebSocketConnection) { connection.sendBinary(binary) }
}
