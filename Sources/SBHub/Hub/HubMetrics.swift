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
            "switchboard_bus_messages_total": "Event and push messages received from the bus (the Redis channel of every shard).",
            "switchboard_bus_messages_without_subscriber_total": "Bus messages for sessions with no subscriber on this instance (received, then dropped).",
            "switchboard_http_requests_total": "HTTP requests by route, method and status.",
            "switchboard_http_request_duration_seconds": "HTTP request handling time by route.",
            "switchboard_tls_handshakes": "TLS handshakes since start by result: ok, or why one failed (timeout, closed, version, cipher, alpn, plain_http, peer_alert, protocol). Only with TLS on.",
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
    }

    /// Per-loop caches of labelled instruments, so the hot path skips the registry's lock and
    /// label lookup after the first request of each kind.
    final class RequestInstruments {
        struct Key: Hashable {
            let route: String
            let method: String
            let status: Int
        }
        var counters: [Key: CoreMetrics.Counter] = [:]
        var timers: [String: CoreMetrics.Timer] = [:]
    }

    /// Methods as a closed label set: a client inventing methods must not grow `/metrics`.
    static func methodLabel(_ method: HTTPMethod) -> String {
        if case .other = method { return "other" }
        return method.name
    }

    func recordRequest(route: String, method: String, status: Int, startedAt: UInt64, cache: RequestInstruments) {
        let key = RequestInstruments.Key(route: route, method: method, status: status)
        let counter = cache.counters[key] ?? {
            let made = CoreMetrics.Counter(label: "switchboard_http_requests_total",
                                           dimensions: [("route", route), ("method", method), ("status", String(status))], factory: factory)
            cache.counters[key] = made
            return made
        }()
        counter.increment()
        let timer = cache.timers[route] ?? {
            let made = CoreMetrics.Timer(label: "switchboard_http_request_duration_seconds", dimensions: [("route", route)], factory: factory)
            cache.timers[route] = made
            return made
        }()
        timer.recordNanoseconds(Int64(MonotonicClock.now() &- startedAt))
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
        return buffer
    }
}
