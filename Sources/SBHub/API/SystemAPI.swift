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
        let connections = hub.server?.connectionCount ?? 0
        return Reply.json(200, [
            "status": available ? "ok" : "degraded",
            "instanceId": hub.configuration.instanceId,
            "uptimeSeconds": Int((MonotonicClock.now() - hub.startedAt) / 1_000_000_000),
            "storage": store.kind.rawValue,
            "redis": ["connected": store.kind == .redis && available],
            "connections": connections,
            "websockets": hub.server?.webSocketCount ?? 0,
            "draining": hub.isDraining,
        ])
    }

    static func ready(_ hub: Hub, store: any Store) -> HTTPResponse {
        if hub.isDraining {
            return Reply.error(HubError(status: 503, message: "draining: shutting down", headers: [("Retry-After", "1")]))
        }
        if !store.isAvailable {
            return Reply.error(HubError(status: 503, message: "storage unavailable", headers: [("Retry-After", "1")]))
        }
        return Reply.json(200, ["status": "ready"])
    }

    static func metrics(_ hub: Hub) -> HTTPResponse {
        hub.metrics.connections.record(hub.server?.connectionCount ?? 0)
        hub.metrics.webSockets.record(hub.server?.webSocketCount ?? 0)
        hub.metrics.slowClientsCutOff.record(hub.server?.cutOffCount ?? 0)
        hub.metrics.storeUp.record(hub.loopHubs[0].store.isAvailable ? 1 : 0)
        return HTTPResponse(status: 200, headers: [("Content-Type", "text/plain; version=0.0.4; charset=utf-8")], body: hub.metrics.render())
    }
}
