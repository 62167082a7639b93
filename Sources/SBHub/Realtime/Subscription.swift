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
    /// The bytes its client writes: WebSocket frames or Server-Sent Events.
    enum Format: UInt8 {
        case webSocket, serverSentEvents
    }

    // In this order the small fields sit in the machine's tail: 88 bytes, a 96-byte
    // allocation (idle memory per subscription).
    unowned let client: any Subscriber
    let sessionId: String
    var machine: SubscriptionStateMachine
    let format: Format
    /// Cleared when the subscription is removed; a read still in flight then does nothing
    /// (and never touches a client that may be gone).
    var active = true
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

    /// A live message from the bus, `frame` in this subscription's format. True when it was
    /// sent to the client.
    @discardableResult
    func offer(seq: Int64?, epoch: String?, frame: SharedFrame) -> Bool {
        guard active else { return false }
        switch machine.live(seq: seq, epoch: epoch, frame: frame, heldByteLimit: client.loopHub.hub.configuration.replayHeldBytes) {
        case .send:
            client.sendLive(frame)
            return true
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
                client.confirm(sessionId, confirmation)
            case .replay(let events):
                client.sendReplay(events, sessionId: sessionId)
                client.loopHub.hub.metrics.replayedEvents.increment(by: events.count)
            case .send(let frames):
                for frame in frames { client.sendLive(frame) }
            case .announceReset(let epoch):
                client.sendSessionDeleted(sessionId, epoch: epoch)
            case .reportReplayFailed:
                client.sendError("history unavailable: replay incomplete, resubscribe with lastEventId", code: "replay_failed", sessionId: sessionId)
            }
        }
    }
}
