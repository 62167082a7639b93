import SBServer

/// One client's interest in one session, on one loop. `lastSeq` is what makes delivery exactly
/// once: replayed history, live events and gap fills all pass through `offer`, which drops any
/// seq already delivered.
final class Subscription {
    unowned let client: HubClient
    let sessionId: String
    var lastSeq: Int64
    /// While a replay read is in flight, live messages wait here so they follow the history.
    var pending: [(seq: Int64?, frame: SharedFrame)]?
    /// Position in the loop's per-session array, for O(1) removal.
    var slot = 0
    /// Cleared when the subscription is removed; a replay still in flight then delivers nothing
    /// (and never touches a client that may be gone).
    var active = true

    init(client: HubClient, sessionId: String, lastSeq: Int64) {
        self.client = client
        self.sessionId = sessionId
        self.lastSeq = lastSeq
    }

    @discardableResult
    func offer(seq: Int64?, frame: SharedFrame) -> Bool {
        guard active else { return false }
        if pending != nil {
            pending!.append((seq, frame))
            return false
        }
        if let seq {
            guard seq > lastSeq else { return false }
            lastSeq = seq
        }
        client.connection?.sendFrame(frame)
        return true
    }

    /// Ends a replay: queued live messages go out, minus what the replay already covered.
    func finishReplay() {
        guard let queued = pending else { return }
        pending = nil
        for (seq, frame) in queued { offer(seq: seq, frame: frame) }
    }
}
