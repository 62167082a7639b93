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

    public init(instanceId: String, apiKey: String? = nil, allowedOrigins: [String]? = nil, metricsPublic: Bool = false,
                store: StoreSettings = .init(), maxMessageBytes: Int = 1 << 20,
                restRatePerSecond: Double = 0, restBurst: Double = 0, wsMessagesPerSecond: Double = 50) {
        self.instanceId = instanceId
        self.apiKey = apiKey
        self.allowedOrigins = allowedOrigins
        self.metricsPublic = metricsPublic
        self.store = store
        self.maxMessageBytes = maxMessageBytes
        self.restRatePerSecond = restRatePerSecond
        self.restBurst = restBurst
        self.wsMessagesPerSecond = wsMessagesPerSecond
    }
}
