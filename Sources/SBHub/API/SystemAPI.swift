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
        // Written by hand: this is the load balancer's hot path.
        var out = Array("{\"status\":\"".utf8)
        out.append(contentsOf: (available && busUp ? "ok" : "degraded").utf8)
        out.append(contentsOf: "\",\"instanceId\":".utf8)
        JSONString.append(hub.configuration.instanceId, to: &out)
        out.append(contentsOf: ",\"uptimeSeconds\":\((MonotonicClock.now() - hub.startedAt) / 1_000_000_000)".utf8)
        out.append(contentsOf: ",\"storage\":\"\(store.kind.rawValue)\",\"redis\":{\"connected\":\(store.kind == .redis && available),\"subscribed\":\(store.kind == .redis && busUp)}".utf8)
        out.append(contentsOf: ",\"connections\":\(server?.connectionCount ?? 0),\"websockets\":\(server?.webSocketCount ?? 0)".utf8)
        out.append(contentsOf: ",\"draining\":\(hub.isDraining)}".utf8)
        return Reply.raw(200, out)
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
        if let server = hub.server, server.isTLS {
            hub.metrics.recordTLS(handshakes: server.tlsHandshakeCounts, reloads: server.tlsReloadCounts)
        }
        return HTTPResponse(status: 200, headers: [("Content-Type", "text/plain; version=0.0.4; charset=utf-8")], body: hub.metrics.render())
    }
}
