import SBCore
import CoreMetrics
import SBHTTP
import SBServer
import SBStore

/// `/health`, `/ready`, `/metrics`.
enum SystemAPI {
    static func health(_ hub: Hub) -> HTTPResponse {
        let store = hub.loopHubs[0].store
        let available = store.isAvailable
        let busUp = hub.busIsUp
        let server = hub.server
        // Written by hand, bytes only (no string interpolation): the load balancer's hot path.
        var out: [UInt8] = []
        out.reserveCapacity(256)
        out.append(contentsOf: (available && busUp ? healthOK : healthDegraded))
        JSONString.append(hub.configuration.instanceId, to: &out)
        out.append(contentsOf: ",\"uptimeSeconds\":".utf8)
        JSONNumber.append((MonotonicClock.now() - hub.startedAt) / 1_000_000_000, to: &out)
        out.append(contentsOf: ",\"storage\":\"".utf8)
        out.append(contentsOf: store.kind.rawValue.utf8)
        out.append(contentsOf: "\",\"redis\":{\"connected\":".utf8)
        JSONNumber.append(store.kind == .redis && available, to: &out)
        out.append(contentsOf: ",\"subscribed\":".utf8)
        JSONNumber.append(store.kind == .redis && busUp, to: &out)
        out.append(contentsOf: "},\"connections\":".utf8)
        JSONNumber.append(server?.connectionCount ?? 0, to: &out)
        out.append(contentsOf: ",\"websockets\":".utf8)
        JSONNumber.append(server?.webSocketCount ?? 0, to: &out)
        out.append(contentsOf: ",\"draining\":".utf8)
        JSONNumber.append(hub.isDraining, to: &out)
        // For the console: whether to ask for a key or token before its first request.
        out.append(contentsOf: ",\"authRequired\":".utf8)
        JSONNumber.append(hub.configuration.apiKey != nil || hub.configuration.tokens != nil, to: &out)
        out.append(UInt8(ascii: "}"))
        return Reply.raw(200, out)
    }

    private static let healthOK = Array("{\"status\":\"ok\",\"instanceId\":".utf8)
    private static let healthDegraded = Array("{\"status\":\"degraded\",\"instanceId\":".utf8)

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
        if let server = hub.server, server.isTLS {
            hub.metrics.recordTLS(handshakes: server.tlsHandshakeCounts, reloads: server.tlsReloadCounts)
        }
        return HTTPResponse(status: 200, headers: [("Content-Type", "text/plain; version=0.0.4; charset=utf-8")], body: hub.metrics.render())
    }
}
