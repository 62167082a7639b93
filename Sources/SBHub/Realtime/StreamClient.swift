import SBCore
import SBWebSocket
import SBEventLoop
import SBServer
import SBStore

/// One Server-Sent Events stream (`GET /api/events/:sessionId/stream`): a subscriber like a
/// WebSocket client, with one subscription fixed at open, resumed from `Last-Event-ID` by the
/// same state machine and paced read gate. Lives on its loop.
final class StreamClient: StreamHandler, Subscriber {
    unowned let loopHub: LoopHub
    let sessionId: String
    private let lastEventId: Int64?
    private let epoch: String?
    private let expiresAtMillis: Int64?
    /// `?presence=1`: the stream also carries the session's presence messages.
    private let wantsPresence: Bool
    /// The stream's id in presence entries (a WebSocket's is its `clientId`).
    let presenceClientId = IDGenerator.next()
    let presenceInfo: [UInt8]
    weak var stream: (any ResponseStream)?
    private var subscription: Subscription?
    private var expiryTimer: TimerHandle?
    var readGate = ReadGate()

    init(loopHub: LoopHub, sessionId: String, lastEventId: Int64?, epoch: String?, access: Access, wantsPresence: Bool = false) {
        self.loopHub = loopHub
        self.sessionId = sessionId
        self.lastEventId = lastEventId
        self.epoch = epoch
        self.wantsPresence = wantsPresence
        self.presenceInfo = access.presenceInfo
        if case .token(let grant) = access { expiresAtMillis = grant.expiresAtMillis } else { expiresAtMillis = nil }
    }

    // MARK: StreamHandler

    func opened(_ stream: any ResponseStream) {
        self.stream = stream
        stream.sendLive(ServerSentEvents.preamble)
        let subscription = Subscription(client: self, format: .serverSentEvents, sessionId: sessionId)
        subscription.wantsPresence = wantsPresence
        self.subscription = subscription
        loopHub.add(subscription)
        scheduleExpiry()
        subscription.perform(subscription.machine.subscribe(lastEventId: lastEventId, epoch: epoch))
        if wantsPresence { loopHub.sendPresenceSnapshot(to: self, sessionId: sessionId) }
    }

    func closed(_ stream: any ResponseStream) {
        if let expiryTimer { loopHub.loop.cancel(expiryTimer) }
        expiryTimer = nil
        if let subscription { loopHub.remove(subscription) }
        subscription = nil
        clearReadGate()
    }

    func heartbeat(_ stream: any ResponseStream) {
        stream.sendLive(ServerSentEvents.heartbeat)
    }

    func sendQueueDrained(_ stream: any ResponseStream) {
        readGateDrained()
    }

    /// A token-opened stream ends at the token's `exp` (no refresh on a one-way stream): the
    /// client reconnects with a fresh token.
    private func scheduleExpiry() {
        guard let expiresAtMillis else { return }
        let delay = min(max(expiresAtMillis - WallClock.millisecondsSinceEpoch(), 0), 86_400_000)
        expiryTimer = loopHub.loop.schedule(after: .milliseconds(delay)) { [weak self] in
            guard let self, let stream = self.stream else { return }
            self.expiryTimer = nil
            if WallClock.millisecondsSinceEpoch() < expiresAtMillis { return self.scheduleExpiry() }
            let sessionId = self.sessionId
            stream.sendLive(ServerSentEvents.message(type: "token_expired", id: nil, json: JSONObjectWriter.make { message in
                message.string("type", "token_expired")
                message.string("sessionId", sessionId)
            }))
            stream.end()
        }
    }

    // MARK: Subscriber

    var pacedQueuedBytes: Int? { stream?.queuedBytes }

    func askDrainNotice(below lowWater: Int) {
        stream?.notifyWhenDrained(below: lowWater)
    }

    func confirm(_ sessionId: String, _ confirmation: SubscriptionStateMachine.Confirmation) {
        stream?.sendLive(ServerSentEvents.message(
            type: "subscription_confirmed", id: nil,
            json: ServerMessage.subscriptionConfirmed(sessionId: sessionId, confirmation, instanceId: loopHub.hub.configuration.instanceId)))
    }

    func sendReplay(_ events: [StoredEvent], sessionId: String) {
        guard let stream else { return }
        for event in events {
            let message = ServerMessage.event(sessionId: sessionId, seq: event.seq, storedJSON: event.json)
            // Dropped: the stream has ended, so the rest of the page need not be encoded.
            if stream.sendPaced(ServerSentEvents.message(type: "event", id: event.seq, json: message)) == .dropped { return }
        }
    }

    func sendLive(_ message: SharedBytes) -> SendStatus {
        stream?.sendLive(message) ?? .dropped
    }

    /// `id: 0`: the stream started again, so a reconnect resumes from its beginning.
    func sendSessionDeleted(_ sessionId: String, epoch: String) {
        stream?.sendLive(ServerSentEvents.message(type: "session_deleted", id: 0,
                                                  json: ServerMessage.sessionDeleted(sessionId: sessionId, epoch: epoch)))
    }

    func sendPresence(_ json: [UInt8]) {
        stream?.sendLive(ServerSentEvents.message(type: ServerSentEvents.messageType(json), id: nil, json: json))
    }

    func sendError(_ message: String, code: String, sessionId: String?) {
        stream?.sendLive(ServerSentEvents.message(type: "error", id: nil, json: ServerMessage.error(message, code: code, sessionId: sessionId)))
    }
}
