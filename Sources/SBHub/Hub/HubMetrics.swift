import CoreMetrics
import Prometheus
import SBCore
import SBHTTP

/// Instruments go through swift-metrics (`CoreMetrics`) against a Prometheus factory that the
/// hub owns, so several hubs in one test process never share counters and `/metrics` renders
/// exactly this hub's registry.
final class HubMetrics: Sendable {
    let registry = PrometheusCollectorRegistry()
    private let factory: HelpTextMetricsFactory
    let eventsAccepted: CoreMetrics.Counter
    let deliveries: CoreMetrics.Counter
    let replayedEvents: CoreMetrics.Counter
    let duplicatePublishes: CoreMetrics.Counter
    let subscriptions: CoreMetrics.Meter
    let deliveryLatency: CoreMetrics.Timer
    let connections: CoreMetrics.Gauge
    let webSockets: CoreMetrics.Gauge
    let slowClientsCutOff: CoreMetrics.Gauge
    let storeUp: CoreMetrics.Gauge
    let busMessages: CoreMetrics.Counter
    let busMessagesWithoutSubscriber: CoreMetrics.Counter
    /// Bus messages dropped unread: not a message of ours or the old backend's.
    let busMessagesMalformed: CoreMetrics.Counter
    /// Writes refused over the store's memory limit: Redis's `maxmemory`, or
    /// MEMORY_STORE_MAX_BYTES with eviction off (HTTP 507, or a WebSocket input not queued).
    let storeOutOfMemory: CoreMetrics.Counter
    /// Sessions the memory store evicted at MEMORY_STORE_MAX_BYTES, and idempotency keys it
    /// forgot early there.
    let memoryStoreEvictedSessions: CoreMetrics.Counter
    let memoryStoreEvictedIdempotencyKeys: CoreMetrics.Counter
    /// What the memory store counts against MEMORY_STORE_MAX_BYTES, and that limit (memory only).
    let memoryStoreBytes: CoreMetrics.Gauge
    let memoryStoreMaxBytes: CoreMetrics.Gauge
    /// `switchboard_auth_failures_total` by reason: one series per `AuthFailureReason`.
    let authFailures: [AuthFailureReason: CoreMetrics.Counter]

    init() {
        let fine: [Duration] = [.microseconds(100), .microseconds(250), .microseconds(500), .milliseconds(1), .milliseconds(2.5),
                                .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100),
                                .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(2.5)]
        let factory = HelpTextMetricsFactory(registry: registry, durationBuckets: fine, help: [
            "switchboard_events_accepted_total": "Events stored and published.",
            "switchboard_deliveries_total": "Event, command and input messages queued to WebSocket subscribers.",
"switchboard_replayed_events_total": "Stored events sent to subscribers from history (resume, gap fill, refill).",
            "switchboard_duplicate_publishes_total": "Events not stored again because their idempotency key was seen within IDEMPOTENCY_TTL.",
            "switchboard_subscriptions": "Open session subscriptions on this instance.",
            "switchboard_publish_to_delivery_seconds": "Time from an event reaching this instance's bus to its delivery to local subscribers.",
            "switchboard_open_connections": "Open TCP connections (HTTP and WebSocket).",
            "switchboard_open_websockets": "Open WebSocket connections.",
            "switchboard_slow_clients_cut_off": "WebSocket and Server-Sent Events clients cut off for exceeding SEND_QUEUE_BYTES since start.",
            "switchboard_storage_up": "1 when the store (Redis) is reachable, else 0.",
            "switchboard_bus_messages_total": "Events and pushes received from the bus (the Redis channel of every shard); a channel message carrying several events of one session counts each.",
            "switchboard_bus_messages_without_subscriber_total": "Events and pushes from the bus for sessions with no subscriber on this instance (received, then dropped).",
            "switchboard_bus_messages_malformed_total": "Channel messages that were neither Switchboard's nor the old backend's (logged at most once per 10 s); nothing of them was delivered.",
            "switchboard_store_out_of_memory_total": "Writes refused because the store is at its memory limit: Redis over maxmemory, or the memory store at MEMORY_STORE_MAX_BYTES with MEMORY_STORE_EVICTION=off (answered 507, or a WebSocket input not queued); nothing was stored.",
            "switchboard_memory_store_evicted_sessions_total": "Sessions the memory store evicted whole (least recently written, no local subscriber) to stay within MEMORY_STORE_MAX_BYTES.",
            "switchboard_memory_store_bytes": "Bytes the memory store holds as counted against MEMORY_STORE_MAX_BYTES (stored JSON and strings plus an estimate per entry). Only without Redis.",
            "switchboard_memory_store_max_bytes": "MEMORY_STORE_MAX_BYTES. Only without Redis.",
            "switchboard_memory_store_evicted_idempotency_keys_total": "Idempotency keys the memory store forgot before IDEMPOTENCY_TTL to stay within MEMORY_STORE_MAX_BYTES (older than every evictable session).",
            "switchboard_http_requests_total": "HTTP requests by route, method and status.",
            "switchboard_tls_handshakes": "TLS handshakes since start by result: ok, or why one failed (timeout, closed, version, cipher, alpn, plain_http, peer_alert, protocol). Only with TLS on.",
            "switchboard_auth_failures_total": "Requests and upgrades refused for their credential, by reason: missing, wrong_key, bad_token, expired_token, or throttled (429: the address used up AUTH_FAILURE_BURST).",
            "switchboard_tls_reloads": "Certificate reloads on SIGHUP since start by result (ok, failed: the previous certificate stays). Only with TLS on.",
        ])
        self.factory = factory
        eventsAccepted = CoreMetrics.Counter(label: "switchboard_events_accepted_total", factory: factory)
        deliveries = CoreMetrics.Counter(label: "switchboard_deliveries_total", factory: factory)
        replayedEvents = CoreMetrics.Counter(label: "switchboard_replayed_events_total", factory: factory)
        duplicatePublishes = CoreMetrics.Counter(label: "switchboard_duplicate_publishes_total", factory: factory)
        subscriptions = CoreMetrics.Meter(label: "switchboard_subscriptions", factory: factory)
        deliveryLatency = CoreMetrics.Timer(label: "switchboard_publish_to_delivery_seconds", factory: factory)
        connections = CoreMetrics.Gauge(label: "switchboard_open_connections", factory: factory)
        webSockets = CoreMetrics.Gauge(label: "switchboard_open_websockets", factory: factory)
        slowClientsCutOff = CoreMetrics.Gauge(label: "switchboard_slow_clients_cut_off", factory: factory)
        storeUp = CoreMetrics.Gauge(label: "switchboard_storage_up", factory: factory)
        busMessages = CoreMetrics.Counter(label: "switchboard_bus_messages_total", factory: factory)
        busMessagesWithoutSubscriber = CoreMetrics.Counter(label: "switchboard_bus_messages_without_subscriber_total", factory: factory)
        busMessagesMalformed = CoreMetrics.Counter(label: "switchboard_bus_messages_malformed_total", factory: factory)
        storeOutOfMemory = CoreMetrics.Counter(label: "switchboard_store_out_of_memory_total", factory: factory)
        memoryStoreEvictedSessions = CoreMetrics.Counter(label: "switchboard_memory_store_evicted_sessions_total", factory: factory)
        memoryStoreEvictedIdempotencyKeys = CoreMetrics.Counter(label: "switchboard_memory_store_evicted_idempotency_keys_total", factory: factory)
        memoryStoreBytes = CoreMetrics.Gauge(label: "switchboard_memory_store_bytes", factory: factory)
        memoryStoreMaxBytes = CoreMetrics.Gauge(label: "switchboard_memory_store_max_bytes", factory: factory)
        authFailures = Dictionary(uniqueKeysWithValues: AuthFailureReason.allCases.map {
            ($0, CoreMetrics.Counter(label: "switchboard_auth_failures_total", dimensions: [("reason", $0.rawValue)], factory: factory))
        })
    }

    /// The `route` label of the request metrics: a closed set (ids never become labels), numbered
    /// so that the per-loop caches below are arrays.
    enum RequestLabel: Int, CaseIterable {
        case health, ready, metrics, stats, console, eventStream, postEvents, getEvents, recentEvents
        case sessions, session, chains, chain, input, commands, ackCommand, tokens, webSocket, echo, presence
        case preflight, unmatched

        var text: String {
            switch self {
            case .health: "/health"
            case .ready: "/ready"
            case .metrics: "/metrics"
            case .stats: "/api/stats"
            case .console: "console"
            case .eventStream: "/api/events/:sessionId/stream"
            case .postEvents: "/api/events"
            case .getEvents: "/api/events/:sessionId"
            case .recentEvents: "/api/events/:sessionId/recent"
            case .sessions: "/api/sessions"
            case .session: "/api/sessions/:id"
            case .chains: "/api/sessions/:id/chains"
            case .chain: "/api/chains/:chainId"
            case .input: "/api/sessions/:id/input"
            case .commands: "/api/sessions/:id/commands"
            case .ackCommand: "/api/commands/:commandId/ack"
            case .tokens: "/api/tokens"
            case .webSocket: "/ws"
            case .echo: "/echo"
            case .presence: "/api/sessions/:id/presence"
            case .preflight: "preflight"
            case .unmatched: "unmatched"
            }
        }
    }

    /// Per-loop caches of labelled instruments, so the hot path skips the registry's lock and
    /// label lookup after the first request of each kind. Indexed, not hashed: a counter is
    /// found by the status's slot (handed out on first sight, at most one per status code),
    /// then by route label and method.
    final class RequestInstruments {
        static let methodCount = 8
        static let statusRange = 100..<600
        /// Status code - 100 → slot + 1 (0: none yet).
        var statusSlots = [UInt16](repeating: 0, count: statusRange.count)
        var counters: [[CoreMetrics.Counter?]] = []
        /// This loop's request durations (`RequestDurations`).
        let durations: RequestDurations.Slot

        fileprivate init(durations: RequestDurations.Slot) {
            self.durations = durations
        }
    }

    /// `switchboard_http_request_duration_seconds`, counted per loop (`RequestDurations`).
    let requestDurations = RequestDurations()

    /// A loop's request instruments; its durations are counted in every `/metrics`.
    func makeRequestInstruments() -> RequestInstruments {
        RequestInstruments(durations: requestDurations.makeSlot())
    }

    /// Methods as a closed label set: a client inventing methods must not grow `/metrics`.
    static func methodLabel(_ method: HTTPMethod) -> String {
        if case .other = method { return "other" }
        return method.name
    }

    static func methodIndex(_ method: HTTPMethod) -> Int {
        switch method {
        case .get: 0
        case .head: 1
        case .post: 2
        case .put: 3
        case .delete: 4
        case .options: 5
        case .patch: 6
        case .other: 7
        }
    }

    func recordRequest(route: RequestLabel, method: HTTPMethod, status: Int, startedAt: UInt64, cache: RequestInstruments) {
        counter(route: route, method: method, status: status, cache: cache).increment()
        // 507 has one source: HubError.from(.outOfMemory), a write refused at the store's memory limit.
        if status == 507 { storeOutOfMemory.increment() }
        let nanos = Int64(bitPattern: MonotonicClock.now() &- startedAt)
        cache.durations.counts.withLock { $0.record(route: route.rawValue, nanos: nanos) }
    }

    private func counter(route: RequestLabel, method: HTTPMethod, status: Int, cache: RequestInstruments) -> CoreMetrics.Counter {
        func make() -> CoreMetrics.Counter {
            CoreMetrics.Counter(label: "switchboard_http_requests_total",
                                dimensions: [("route", route.text), ("method", Self.methodLabel(method)), ("status", String(status))],
                                factory: factory)
        }
        // Statuses are ours, always 100...599; anything else goes to the registry uncached.
        guard RequestInstruments.statusRange.contains(status) else { return make() }
        var slot = Int(cache.statusSlots[status - 100])
        if slot == 0 {
            cache.counters.append([CoreMetrics.Counter?](repeating: nil, count: RequestLabel.allCases.count * RequestInstruments.methodCount))
            slot = cache.counters.count
            cache.statusSlots[status - 100] = UInt16(slot)  // at most 500 slots, one per status code
        }
        let index = route.rawValue * RequestInstruments.methodCount + Self.methodIndex(method)
        if let counter = cache.counters[slot - 1][index] { return counter }
        let made = make()
        cache.counters[slot - 1][index] = made
        return made
    }

    func recordDeliveries(_ count: Int, publishedAt: UInt64) {
        deliveries.increment(by: count)
        if publishedAt != 0 {
            deliveryLatency.recordNanoseconds(Int64(MonotonicClock.now() &- publishedAt))
        }
    }

    /// TLS totals read from the server at scrape time (like the cut-off count). The `result`
    /// values are a closed set, so the registry's instruments are found again, not grown.
    func recordTLS(handshakes: [(result: String, count: Int)], reloads: (ok: Int, failed: Int)) {
        for (result, count) in handshakes {
            CoreMetrics.Gauge(label: "switchboard_tls_handshakes", dimensions: [("result", result)], factory: factory).record(count)
        }
        CoreMetrics.Gauge(label: "switchboard_tls_reloads", dimensions: [("result", "ok")], factory: factory).record(reloads.ok)
        CoreMetrics.Gauge(label: "switchboard_tls_reloads", dimensions: [("result", "failed")], factory: factory).record(reloads.failed)
    }

    func counter(_ label: String) -> CoreMetrics.Counter {
        CoreMetrics.Counter(label: label, factory: factory)
    }

    func render() -> [UInt8] {
        var buffer: [UInt8] = []
        registry.emit(into: &buffer)
        RequestDurations.render(requestDurations.snapshot(), into: &buffer)
        return buffer
    }
}
