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
    /// The stream's id in its confirmations and presence entries.
    let clientId = IDGenerator.next()
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
            self.send(.tokenExpired(sessionId: self.sessionId))
            stream.end()
        }
    }

    // MARK: Subscriber

    var pacedQueuedBytes: Int? { stream?.queuedBytes }

    func askDrainNotice(below lowWater: Int) {
        stream?.notifyWhenDrained(below: lowWater)
    }

    func send(_ message: HubMessage) {
        stream?.sendLive(ServerSentEvents.render(message))
    }

    func sendPaced(_ message: HubMessage) -> SendStatus {
        stream?.sendPaced(ServerSentEvents.render(message)) ?? .dropped
    }

    func sendLive(_ message: SharedBytes) -> SendStatus {
        stream?.sendLive(message) ?? .dropped
    }
}
