import SBWebSocket
import CoreMetrics
import SBCore
import SBEventLoop
import SBServer
import SBStore

/// One client's interest in one session, on one loop: performs what its
/// `SubscriptionStateMachine` decides (reads through the client's paced read gate, sends,
/// confirmations and notices).
final class Subscription {
    /// The bytes its client writes: WebSocket frames (plain, or compressed where worth it for
    /// a client that agreed to permessage-deflate) or Server-Sent Events.
    enum Format: UInt8 {
        case webSocket, webSocketDeflate, serverSentEvents
    }

    // In this order the small fields sit in the machine's tail: 88 bytes, a 96-byte
    // allocation (idle memory per subscription; SubscriptionLayoutTests holds it).
    unowned let client: any Subscriber
    let sessionId: String
    var machine: SubscriptionStateMachine
    let format: Format
    /// Cleared when the subscription is removed; a read still in flight then does nothing
    /// (and never touches a client that may be gone).
    var active = true
    /// The client asked for this session's `presence_join` / `presence_leave` (subscribe with
    /// `"presence": true`, or a stream's `?presence=1`). In the byte before `slotIndex`: free.
    var wantsPresence = false
    /// Position in the loop's per-session array, for O(1) removal.
    private var slotIndex: Int32 = 0
    var slot: Int {
        get { Int(slotIndex) }
        set { slotIndex = Int32(truncatingIfNeeded: newValue) }
    }

    init(client: any Subscriber, format: Format, sessionId: String) {
        self.client = client
        self.format = format
        self.sessionId = sessionId
        self.machine = SubscriptionStateMachine()
    }

    /// A live message from the bus, `message` in this subscription's format (a WebSocket
    /// frame or a Server-Sent Event). True when it was queued for the client; false when it was
    /// held, dropped, or the client was cut off instead.
    @discardableResult
    func offer(seq: Int64?, epoch: String?, message: SharedBytes, heldByteLimit: Int) -> Bool {
        guard active else { return false }
        switch machine.live(seq: seq, epoch: epoch, message: message, heldByteLimit: heldByteLimit) {
        case .send:
            return client.sendLive(message) == .queued
        case .drop:
            return false
        case .actions(let actions):
            perform(actions)
            return false
        }
    }

    func perform(_ actions: [SubscriptionStateMachine.Action]) {
        for action in actions where active {
            switch action {
            case .read(let after, let events):
                client.requestRead(for: self, after: after, events: events)
            case .readLater(let after, let events):
                client.loopHub.loop.schedule(after: .milliseconds(250)) { [weak self] in
                    guard let self, self.active else { return }
                    self.client.requestRead(for: self, after: after, events: events)
                }
            case .confirm(let confirmation):
                client.send(.subscriptionConfirmed(sessionId: sessionId, confirmation, clientId: client.clientId,
                                                   instanceId: client.loopHub.hub.configuration.instanceId))
            case .replay(let events):
                client.sendReplay(events, sessionId: sessionId)
                let hub = client.loopHub.hub
                hub.metrics.replayedEvents.increment(by: events.count)
                recordReplayLag(events, hub: hub)
            case .send(let messages):
                for message in messages {
                    // After a cut-off the connection is closing: the rest would be dropped too.
                    if client.sendLive(message) == .dropped { break }
                }
            case .announceReset(let epoch):
                client.send(.sessionDeleted(sessionId: sessionId, epoch: epoch))
            case .reportReplayFailed:
                client.sendError("history unavailable: replay incomplete, resubscribe with lastEventId", code: "replay_failed", sessionId: sessionId)
            }
        }
    }

    /// Replayed events are timed from their own `timestamp` (the agent's clock): the acceptance
    /// time is not stored with an event. One clock read per page.
    private func recordReplayLag(_ events: [StoredEvent], hub: Hub) {
        let now = WallClock.microsecondsSinceEpoch()
        let lags = events.compactMap { event in StoredEventJSON.timestampMillis(of: event.json).map { now - $0 * 1000 } }
        hub.deliveryLag.observe(loop: client.loopHub.loop.index, .replay, lagsMicros: lags)
    }
}
