import CoreMetrics
import Foundation
import Logging
import SBCore
import SBCrypto
import SBHTTP

/// Who may do what: API key or token, Origin allowlist, CORS headers, REST write rate limits,
/// and who the client is behind trusted proxies.
final class HubPolicy: Sendable {
    private let apiKey: [UInt8]?
    let tokens: TokenVerifier?
    private let allowedOrigins: Set<String>?
    private let metricsPublic: Bool
    private let restRate: Double
    private let limiter: Locked<RateLimiter>
    let trustedProxies: TrustedProxies
    private let authFailures: AuthFailureLimiter
    private let metrics: HubMetrics?
    private let logger: Logger?
    private let warnings = Locked(WarningLimiter(interval: 10_000_000_000))

    init(configuration: HubConfiguration, metrics: HubMetrics? = nil, logger: Logger? = nil) {
        self.metrics = metrics
        self.logger = logger
        authFailures = AuthFailureLimiter(rate: configuration.authFailureRate, burst: configuration.authFailureBurst,
                                          capacity: configuration.rateLimitClients)
        apiKey = configuration.apiKey.map { Array($0.utf8) }
        tokens = configuration.tokens.map(TokenVerifier.init)
        allowedOrigins = configuration.allowedOrigins.map(Set.init)
        metricsPublic = configuration.metricsPublic
        restRate = configuration.restRatePerSecond
        limiter = Locked(RateLimiter(rate: configuration.restRatePerSecond,
                                     burst: max(configuration.restBurst, configuration.restRatePerSecond),
                                     capacity: configuration.rateLimitClients))
        trustedProxies = configuration.trustedProxies
    }

    /// The client's address for limits and logs: the peer, or what a trusted proxy forwarded.
    func clientAddress(head: HTTPRequestHead, peer: String) -> String {
        trustedProxies.isEmpty ? peer : trustedProxies.client(peer: peer, forwardedFor: head.headers["x-forwarded-for"])
    }

    /// Not a `Result`: that generic type's copies went through runtime metadata per request.
    enum AccessCheck {
        case allowed(Access)
        case denied(HubError)
    }

    /// Who the request is from, or the error that ends it. `client` is `clientAddress(head:peer:)`.
    /// Per-session scopes are checked by the routes (`RouteAccess`).
    func check(route: Route, head: HTTPRequestHead, client: String) -> AccessCheck {
        switch route {
        case .health, .ready, .asset: return .allowed(.full)
        case .metrics where metricsPublic: return .allowed(.full)
        default: break
        }
        let access: Access
        switch authenticateThrottled(head, client: client) {
        case .failure(let error): return .denied(error)
        case .success(let found): access = found
        }
        if route.isWrite, restRate > 0 {
            let now = MonotonicClock.now()
            let retry = limiter.withLock { $0.take(client, now: now) }
            if let retry {
                return .denied(HubError(status: 429, message: "rate limit exceeded", headers: [("Retry-After", String(retry))]))
            }
        }
        return .allowed(access)
    }

    /// The key or token first (401), then the Origin (403). Browsers always send `Origin`; an
    /// upgrade without one comes from a non-browser client (an agent, a CLI), which the key or
    /// a token authenticates, so it is accepted (RFC 6455 §10.2: Origin protects against
    /// browsers running someone else's script, not against other clients).
    func checkUpgrade(_ head: HTTPRequestHead, client: String) -> Result<Access, HubError> {
        let access: Access
        switch authenticateThrottled(head, client: client) {
        case .failure(let error): return .failure(error)
        case .success(let found): access = found
        }
        if let allowedOrigins, let origin = head.headers["origin"], !allowedOrigins.contains(origin) {
            return .failure(HubError(status: 403, message: "origin \(origin.prefix(200)) is not allowed"))
        }
        return .success(access)
    }

    /// `authenticate` behind the failure throttle (`AuthFailureLimiter`): an address that used
    /// up its failures gets 429 with Retry-After, its credential unchecked; each 401 is counted
    /// by reason and logged (at most one line per 10 s, naming the address).
    func authenticateThrottled(_ head: HTTPRequestHead, client: String) -> Result<Access, HubError> {
        guard apiKey != nil || tokens != nil else { return .success(.full) }
        let now = MonotonicClock.now()
        if let retry = authFailures.blocked(client, now: now) {
            recordFailure(.throttled, client: client, now: now, throttled: true)
            return .failure(Self.tooManyFailures(retryAfter: retry))
        }
        switch authenticate(head) {
        case .success(let access): return .success(access)
        case .failure(let failure):
            let retry = authFailures.failed(client, now: now)
            recordFailure(failure.reason, client: client, now: now, throttled: retry != nil)
            return .failure(retry.map { Self.tooManyFailures(retryAfter: $0) } ?? failure.error)
        }
    }

    /// 429 once an address has used up its failures.
    static func tooManyFailures(retryAfter: Int) -> HubError {
        HubError(status: 429, message: "too many failed authentications from this address; retry later",
                 headers: [("Retry-After", String(retryAfter))])
    }

    /// Counts one failure and logs it (at most one line per 10 s, with how many were suppressed).
    private func recordFailure(_ reason: AuthFailureReason, client: String, now: UInt64, throttled: Bool) {
        metrics?.authFailures[reason]?.increment()
        if let logger, let suppressed = warnings.withLock({ $0.admit(.authenticationFailed, now: now) }) {
            logger.warning("authentication failed", metadata: [
                "client": "\(client)", "reason": "\(reason.rawValue)",
                "throttled": "\(throttled)", "suppressed": "\(suppressed)",
            ])
        }
    }

    struct AuthenticationFailure: Error {
        let reason: AuthFailureReason
        let error: HubError
    }

    /// The key (any of its three places) grants everything; otherwise a token from
    /// `Authorization: Bearer` or `?token=` grants its claims. With neither configured, auth is off.
    func authenticate(_ head: HTTPRequestHead) -> Result<Access, AuthenticationFailure> {
        guard apiKey != nil || tokens != nil else { return .success(.full) }
        var bearer: String?
        if let auth = head.headers["authorization"], auth.lowercased().hasPrefix("bearer ") {
            bearer = String(auth.dropFirst(7)).trimmingCharacters(in: .whitespaces)
        }
        let keyCandidates = [bearer, head.headers["x-api-key"], head.queryValue("apiKey")].compactMap { $0 }
        if let apiKey, keyCandidates.contains(where: { ConstantTime.equals(Array($0.utf8), apiKey) }) {
            return .success(.full)
        }
        // A bearer value without dots is a (wrong) key, not a token: it gets the key's message.
        if let tokens, let token = bearer.flatMap({ $0.contains(".") ? $0 : nil }) ?? head.queryValue("token") {
            switch tokens.verify(token, nowMillis: WallClock.millisecondsSinceEpoch()) {
            case .success(let grant): return .success(.token(grant))
            case .failure(let failure):
                return .failure(AuthenticationFailure(reason: failure == .expired ? .expiredToken : .badToken, error: failure.error))
            }
        }
        let message = tokens == nil ? "missing or invalid API key" : "missing or invalid API key or token"
        return .failure(AuthenticationFailure(reason: keyCandidates.isEmpty ? .missing : .wrongKey,
                                              error: HubError(status: 401, message: message, headers: [("WWW-Authenticate", "Bearer")])))
    }

    /// A `refresh` message's token.
    func verifyToken(_ token: String) -> Result<TokenGrant, TokenFailure>? {
        tokens?.verify(token, nowMillis: WallClock.millisecondsSinceEpoch())
    }

    // MARK: CORS

    func addCORSHeaders(to response: inout HTTPResponse, origin: String?) {
        guard let origin else { return }
        if let allowedOrigins {
            guard allowedOrigins.contains(origin) else { return }
            response.headers.append(("Access-Control-Allow-Origin", origin))
            response.headers.append(("Vary", "Origin"))
        } else {
            response.headers.append(("Access-Control-Allow-Origin", "*"))
        }
    }

    func preflight(_ head: HTTPRequestHead) -> HTTPResponse {
        HTTPResponse(status: 204, headers: [
            ("Access-Control-Allow-Methods", "GET, POST, PUT, DELETE, OPTIONS"),
            ("Access-Control-Allow-Headers", head.headers["access-control-request-headers"] ?? "Content-Type, Authorization, x-api-key"),
            ("Access-Control-Max-Age", "600"),
        ])
    }
}

