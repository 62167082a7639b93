import SBCore
import CoreMetrics
import SBHTTP
import SBServer
import SBStore

/// `/health`, `/ready`, `/metrics`.
enum SystemAPI {
    static func health(_ hub: Hub, status: InstanceStatus) -> HTTPResponse {
        var out: [UInt8] = []
        out.reserveCapacity(256)
        out.append(contentsOf: status.isHealthy ? Health.ok : Health.degraded)
        status.appendMembers(to: &out)
        // For the console: whether to ask for a key or token before its first request.
        out.append(contentsOf: Health.authRequired)
        JSONNumber.append(hub.configuration.apiKey != nil || hub.configuration.tokens != nil, to: &out)
        out.append(UInt8(ascii: "}"))
        return Reply.raw(200, out)
    }

    private static let metricsHeaders = HeaderLines([("Content-Type", "text/plain; version=0.0.4; charset=utf-8"), Reply.noSniff, Reply.noStore])

    /// What `/health` adds around the instance's status (`InstanceStatus`).
    private enum Health {
        static let ok = Array("{\"status\":\"ok\",".utf8)
        static let degraded = Array("{\"status\":\"degraded\",".utf8)
        static let authRequired = Array(",\"authRequired\":".utf8)
    }

    static func ready(_ hub: Hub, store: any Store) -> HTTPResponse {
        if hub.isDraining {
            return Reply.error(HubError(status: 503, message: "draining: shutting down", headers: [("Retry-After", "1")]))
        }
        if !store.isAvailable {
            return Reply.error(HubError(status: 503, message: "storage unavailable", headers: [("Retry-After", "1")]))
        }
        if !hub.busIsUp {
            return Reply.error(HubError(status: 503, message: "not subscribed to the events channel: events from other instances would be missed",
                                        headers: [("Retry-After", "1")]))
        }
        return Reply.json(200, ["status": "ready"])
    }

    static func metrics(_ hub: Hub) -> HTTPResponse {
        hub.metrics.connections.record(hub.server?.connectionCount ?? 0)
        hub.metrics.webSockets.record(hub.server?.webSocketCount ?? 0)
        hub.metrics.slowClientsCutOff.record(hub.server?.cutOffCount ?? 0)
        hub.metrics.storeUp.record(hub.loopHubs[0].store.isAvailable ? 1 : 0)
        if let usage = hub.loopHubs[0].store.memoryBudgetUsage {
            hub.metrics.memoryStoreBytes.record(usage.countedBytes)
            hub.metrics.memoryStoreMaxBytes.record(usage.maxBytes)
        }
        if let server = hub.server, server.isTLS {
            hub.metrics.recordTLS(handshakes: server.tlsHandshakeCounts, reloads: server.tlsReloadCounts)
        }
        var body = hub.metrics.render()
        DeliveryLag.render(hub.deliveryLag.snapshot(), into: &body)
        return HTTPResponse(status: 200, body: body, headerLines: metricsHeaders)
    }
}
