/// When a token-authenticated WebSocket hears `token_expiring` and when it is closed. Pure:
/// events in (the connection opened, a refresh, a timer), actions out, the clock passed in;
/// `HubClient` runs the actions on its loop's timers.
struct TokenExpiryStateMachine: Equatable {
    enum Action: Equatable {
        /// Send `token_expiring` with this `exp` (Unix ms).
        case sendExpiring(expiresAtMillis: Int64)
        /// Close 1008 "token expired".
        case close
        /// Call `timerFired` at this wall time (Unix ms); replaces any earlier wake-up.
        case wake(atMillis: Int64)
    }

    let noticeMillis: Int64
    private(set) var expiresAtMillis: Int64
    private(set) var noticeSent = false
    private(set) var closed = false

    init(expiresAtMillis: Int64, noticeSeconds: Int64) {
        self.expiresAtMillis = expiresAtMillis
        self.noticeMillis = max(noticeSeconds, 0) * 1000
    }

    mutating func opened(nowMillis: Int64) -> [Action] {
        evaluate(nowMillis)
    }

    /// A verified refresh: the new `exp` counts, and a later notice is owed again.
    mutating func refreshed(expiresAtMillis: Int64, nowMillis: Int64) -> [Action] {
        guard !closed else { return [] }
        self.expiresAtMillis = expiresAtMillis
        noticeSent = false
        return evaluate(nowMillis)
    }

    mutating func timerFired(nowMillis: Int64) -> [Action] {
        evaluate(nowMillis)
    }

    private mutating func evaluate(_ now: Int64) -> [Action] {
        guard !closed else { return [] }
        if now >= expiresAtMillis {
            closed = true
            return [.close]
        }
        let noticeAt = expiresAtMillis - noticeMillis
        if now >= noticeAt {
            var actions: [Action] = []
            if !noticeSent {
                noticeSent = true
                actions.append(.sendExpiring(expiresAtMillis: expiresAtMillis))
            }
            actions.append(.wake(atMillis: expiresAtMillis))
            return actions
        }
        return [.wake(atMillis: noticeAt)]
    }
}
