import DequeModule
import SBCore
import SBWebSocket
import SBServer
import SBEventLoop
import SBStore

/// A connection that holds subscriptions: a WebSocket (`HubClient`) or a Server-Sent Events
/// stream (`StreamClient`). Both run the same `SubscriptionStateMachine` through the same
/// paced read gate (below); only the bytes they write differ.
protocol Subscriber: AnyObject {
    var loopHub: LoopHub { get }
    /// The gate's state, kept inline in each subscriber (no extra object per connection).
    var readGate: ReadGate { get set }
    /// Unsent bytes of the connection; nil once it is gone.
    var pacedQueuedBytes: Int? { get }
    /// One `readGateDrained()` once the unsent bytes are at or below `lowWater`.
    func askDrainNotice(below lowWater: Int)

    /// One of the hub's messages, rendered in this subscriber's format: the only place each
    /// transport turns a `HubMessage` into bytes (with `sendPaced`).
    func send(_ message: HubMessage)
    /// A replayed event, written outside the live cut-off budget (the gate paces it):
    /// `.dropped` once the client is gone.
    func sendPaced(_ message: HubMessage) -> SendStatus
    /// A live broadcast already in this subscriber's format (`Subscription.Format`), under the
    /// cut-off: `.dropped` when the client is gone or was cut off.
    func sendLive(_ message: SharedBytes) -> SendStatus
    /// The form of a broadcast this subscriber writes when its format is `.webSocketDeflate`.
    func liveFrame(for frame: BroadcastFrame) -> SharedBytes

    /// The connection's id in its messages and presence entries: stable for its life.
    var clientId: String { get }
    /// The `info` object of its presence entries (from its token; `{}` on the API key).
    var presenceInfo: [UInt8] { get }
}

/// History reads wait here for their turn: one page in flight per connection, and only while
/// its unsent bytes are at or below the low-water mark, so a replay never outruns the
/// client's reading and never gets it cut off.
struct ReadGate {
    var queue = Deque<(subscription: Subscription, after: Int64)>()
    var inFlight = false
    var waitingForDrain = false
    var pumpScheduled = false
}

extension Subscriber {
    func liveFrame(for frame: BroadcastFrame) -> SharedBytes { frame.plain }

    /// A replay page, event by event, until the client is gone (the rest need not be encoded).
    func sendReplay(_ events: [StoredEvent], sessionId: String) {
        for event in events {
            if sendPaced(.event(sessionId: sessionId, seq: event.seq, storedJSON: event.json)) == .dropped { return }
        }
    }

    func sendError(_ text: String, code: String, sessionId: String? = nil) {
        send(.error(text, code: code, sessionId: sessionId))
    }

    var lowWaterBytes: Int { loopHub.hub.configuration.replayLowWaterBytes }

    /// `events: false` reads only the stream's epoch and seqs: no bytes to pace, so it skips
    /// the queue (a plain subscribe is confirmed at once even while another session replays).
    func requestRead(for subscription: Subscription, after: Int64, events: Bool) {
        guard events else {
            read(subscription, after: after, limit: PageLimit(count: 0, bytes: 0), gated: false)
            return
        }
        readGate.queue.append((subscription, after))
        pumpReads()
    }

    /// The connection's queue fell to the low-water mark.
    func readGateDrained() {
        readGate.waitingForDrain = false
        pumpReads()
    }

    func clearReadGate() {
        readGate.queue.removeAll()
    }

    private func pumpReads() {
        while !readGate.inFlight, !readGate.queue.isEmpty, let queued = pacedQueuedBytes {
            guard queued <= lowWaterBytes else {
                if !readGate.waitingForDrain {
                    readGate.waitingForDrain = true
                    askDrainNotice(below: lowWaterBytes)
                }
                return
            }
            let next = readGate.queue.removeFirst()
            guard next.subscription.active else { continue }
            read(next.subscription, after: next.after, limit: loopHub.hub.configuration.replayPage, gated: true)
        }
    }

    /// Strong captures here and in `schedulePump`, on purpose: the closures are short-lived
    /// (one read, one loop turn), and a `weak` capture would give every client a weak-reference
    /// side table for its whole life (idle memory per connection).
    private func read(_ subscription: Subscription, after: Int64, limit: PageLimit, gated: Bool) {
        if gated { readGate.inFlight = true }
        loopHub.store.readStream(sessionId: subscription.sessionId, after: after, limit: limit) { [self] result in
            if subscription.active {
                switch result {
                case .success(let page): subscription.perform(subscription.machine.pageRead(page))
                case .failure: subscription.perform(subscription.machine.readFailed())
                }
            }
            guard gated else { return }
            readGate.inFlight = false
            schedulePump()
        }
    }

    /// The next page is read on the next loop turn: a synchronous store (memory) would
    /// otherwise recurse page after page, and the bytes just queued get a chance to leave.
    private func schedulePump() {
        guard !readGate.pumpScheduled else { return }
        readGate.pumpScheduled = true
        loopHub.loop.schedule(after: .zero) { [self] in
            readGate.pumpScheduled = false
            pumpReads()
        }
    }
}
