public import SBStore

/// Product settings the hub enforces (the socket-level ones live in `ServerConfiguration`).
public struct HubConfiguration: Sendable {
    public var instanceId: String
    public var apiKey: String?
    public var allowedOrigins: [String]?
    public var metricsPublic: Bool
    public var store: StoreSettings
    public var maxMessageBytes: Int
    /// REST writes per client IP: sustained rate and burst (0 = off).
    public var restRatePerSecond: Double
    public var restBurst: Double
    /// WebSocket messages per connection per second (0 = off).
    public var wsMessagesPerSecond: Double
    /// Subscriptions one WebSocket may hold; beyond it `subscribe` gets an `error`.
    public var maxSubscriptionsPerConnection: Int
    /// SEND_QUEUE_BYTES: replay pages, the low-water mark that paces them and the live
    /// messages held during a replay are each a quarter of it, so what the server chooses to
    /// send stays well under the cut-off.
    public var sendQueueBytes: Int
    /// TRUSTED_PROXIES: whose X-Forwarded-For names the client (limits, logs).
    public var trustedProxies: TrustedProxies
    /// Client addresses the REST rate limiter tracks at most (idle ones are forgotten first).
    public var rateLimitClients: Int
    /// TOKEN_*: scoped JWTs (issue 14); nil = only the API key.
    public var tokens: TokenSettings?
    /// ECHO_ENDPOINT: `/echo` (the Autobahn conformance target) exists; off = 404.
    public var echoEndpoint: Bool = false
    /// AUTH_FAILURE_RATE / AUTH_FAILURE_BURST: failed authentications per client address
    /// (401s) before that address gets 429 for every credential, right or wrong.
    public var authFailureRate: Double = 1
    public var authFailureBurst: Double = 20

    /// A quarter of SEND_QUEUE_BYTES: the replay page, its low-water mark and the live hold.
    private var replayQuarter: Int { max(sendQueueBytes / 4, 1) }
    var replayLowWaterBytes: Int { replayQuarter }
    var replayHeldBytes: Int { replayQuarter }
    var replayPage: PageLimit { PageLimit(count: 1000, bytes: replayQuarter) }

    public init(instanceId: String, apiKey: String? = nil, allowedOrigins: [String]? = nil, metricsPublic: Bool = false,
                store: StoreSettings = .init(), maxMessageBytes: Int = 1 << 20,
                restRatePerSecond: Double = 0, restBurst: Double = 0, wsMessagesPerSecond: Double = 50,
                maxSubscriptionsPerConnection: Int = 1000, sendQueueBytes: Int = 8 << 20,
                trustedProxies: TrustedProxies? = nil, rateLimitClients: Int = 100_000, tokens: TokenSettings? = nil) {
        self.instanceId = instanceId
        self.apiKey = apiKey
        self.allowedOrigins = allowedOrigins
        self.metricsPublic = metricsPublic
        self.store = store
        self.maxMessageBytes = maxMessageBytes
        self.restRatePerSecond = restRatePerSecond
        self.restBurst = restBurst
        self.wsMessagesPerSecond = wsMessagesPerSecond
        self.maxSubscriptionsPerConnection = maxSubscriptionsPerConnection
        self.sendQueueBytes = sendQueueBytes
        self.trustedProxies = trustedProxies ?? .none
        self.rateLimitClients = rateLimitClients
        self.tokens = tokens
    }
}
