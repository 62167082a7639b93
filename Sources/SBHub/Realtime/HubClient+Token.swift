import SBCore
import SBEventLoop
import SBServer

/// A token-authenticated WebSocket: per-message scope checks, `token_expiring` before `exp`,
/// `refresh` to renew, close 1008 at `exp` otherwise (issue 14).
extension HubClient {
    /// false (after an `error` with code "forbidden"; the connection stays) when the
    /// connection's token does not grant `scope` on the session.
    func permits(_ scope: Scope, _ sessionId: String) -> Bool {
        guard !access.allows(scope, on: sessionId) else { return true }
        sendError(Access.denial(scope, sessionId), code: "forbidden", sessionId: sessionId)
        return false
    }

    func startTokenExpiry() {
        guard case .token(let grant) = access else { return }
        let lease = TokenLease(machine: TokenExpiryStateMachine(
            expiresAtMillis: grant.expiresAtMillis, noticeSeconds: loopHub.hub.configuration.tokens?.expiryNoticeSeconds ?? 60))
        tokenLease = lease
        perform(lease.machine.opened(nowMillis: WallClock.millisecondsSinceEpoch()))
    }

    func stopTokenExpiry() {
        if let timer = tokenLease?.timer { loopHub.loop.cancel(timer) }
        tokenLease = nil
    }

    private func tokenTimerFired() {
        guard let lease = tokenLease else { return }
        lease.timer = nil
        perform(lease.machine.timerFired(nowMillis: WallClock.millisecondsSinceEpoch()))
    }

    private func perform(_ actions: [TokenExpiryStateMachine.Action]) {
        for action in actions {
            switch action {
            case .sendExpiring(let expiresAt):
                send(.tokenExpiring(expiresAtMillis: expiresAt))
            case .close:
                stopTokenExpiry()
                connection?.close(code: 1008, reason: "token expired")
            case .wake(let at):
                guard let lease = tokenLease else { break }
                if let timer = lease.timer { loopHub.loop.cancel(timer) }
                // At most a day at a time: an `exp` centuries away would overflow the loop's
                // nanosecond deadline; the machine simply re-arms when the timer fires early.
                let delay = min(max(at - WallClock.millisecondsSinceEpoch(), 0), 86_400_000)
                lease.timer = loopHub.loop.schedule(after: .milliseconds(delay)) { [weak self] in self?.tokenTimerFired() }
            }
        }
    }

    /// `{"type":"refresh","token":…}`: a verified token for the same `sub` replaces the old
    /// one; subscriptions it no longer grants end with `unsubscribed`.
    func refresh(_ message: ClientMessage) {
        guard case .token(let current) = access, let lease = tokenLease else {
            sendError("refresh applies to connections opened with a token", code: "invalid_refresh")
            return
        }
        guard let token = message.string(.token) else {
            sendError("token is required and must be a string", code: "invalid_refresh")
            return
        }
        guard let result = loopHub.hub.policy.verifyToken(token) else { return }
        let grant: TokenGrant
        switch result {
        case .failure(let failure):
            sendError(failure.message, code: "invalid_token")
            return
        case .success(let verified): grant = verified
        }
        guard grant.subject == current.subject else {
            sendError("a refresh token must have the same sub as the connection's token", code: "invalid_refresh")
            return
        }
        access = .token(grant)
        for (sessionId, subscription) in subscriptions where !grant.allows(.subscribe, on: sessionId) {
            subscriptions[sessionId] = nil
            loopHub.remove(subscription)
            send(.unsubscribed(sessionId: sessionId, reason: "not granted by the refreshed token"))
        }
        let actions = lease.machine.refreshed(expiresAtMillis: grant.expiresAtMillis, nowMillis: WallClock.millisecondsSinceEpoch())
        send(.tokenRefreshed(expiresAtMillis: grant.expiresAtMillis))
        perform(actions)
    }
}

/// A token connection's expiry machine and timer, in their own allocation: connections on the
/// API key (most server-side clients) carry one word for it.
final class TokenLease {
    var machine: TokenExpiryStateMachine
    var timer: TimerHandle?

    init(machine: TokenExpiryStateMachine) {
        self.machine = machine
    }
}
