import Foundation
import SBCore
import SBCrypto
import SBHTTP

/// Who may do what: API key, Origin allowlist, CORS headers, REST write rate limits, and who
/// the client is behind trusted proxies.
final class HubPolicy: Sendable {
    private let apiKey: [UInt8]?
    private let allowedOrigins: Set<String>?
    private let metricsPublic: Bool
    private let restRate: Double
    private let limiter: Locked<RateLimiter>
    let trustedProxies: TrustedProxies

    init(configuration: HubConfiguration) {
        apiKey = configuration.apiKey.map { Array($0.utf8) }
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

    /// nil when the request may proceed. `client` is `clientAddress(head:peer:)`.
    func check(route: Route, head: HTTPRequestHead, client: String) -> HubError? {
        switch route {
        case .health, .ready: return nil
        case .metrics where metricsPublic: return nil
        default: break
        }
        if !isAuthorized(head) {
            return HubError(status: 401, message: "missing or invalid API key", headers: [("WWW-Authenticate", "Bearer")])
        }
        if route.isWrite, restRate > 0 {
            let now = MonotonicClock.now()
            let retry = limiter.withLock { $0.take(client, now: now) }
            if let retry {
                return HubError(status: 429, message: "rate limit exceeded", headers: [("Retry-After", String(retry))])
            }
        }
        return nil
    }

    /// The key first (401), then the Origin (403). Browsers always send `Origin`; an upgrade
    /// without one comes from a non-browser client (an agent, a CLI), which the key
    /// authenticates, so it is accepted (RFC 6455 §10.2: Origin protects against browsers
    /// running someone else's script, not against other clients).
    func checkUpgrade(_ head: HTTPRequestHead) -> HubError? {
        if !isAuthorized(head) {
            return HubError(status: 401, message: "missing or invalid API key", headers: [("WWW-Authenticate", "Bearer")])
        }
        if let allowedOrigins, let origin = head.headers["origin"], !allowedOrigins.contains(origin) {
            return HubError(status: 403, message: "origin \(origin.prefix(200)) is not allowed")
        }
        return nil
    }

    private func isAuthorized(_ head: HTTPRequestHead) -> Bool {
        guard let apiKey else { return true }
        var candidates: [String] = []
        if let auth = head.headers["authorization"], auth.lowercased().hasPrefix("bearer ") {
            candidates.append(String(auth.dropFirst(7)).trimmingCharacters(in: .whitespaces))
        }
        if let header = head.headers["x-api-key"] { candidates.append(header) }
        if let query = head.queryValue("apiKey") { candidates.append(query) }
        return candidates.contains { ConstantTime.equals(Array($0.utf8), apiKey) }
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

