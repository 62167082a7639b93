import SBCore
import SBHTTP
import SBServer
import SBStore

/// `GET /api/stats`: the console's overview (issue 11).
enum StatsAPI {
    static func stats(_ hub: Hub, store: any Store, _ done: @escaping (HTTPResponse) -> Void) {
        done(Reply.json(200, ["instanceId": hub.configuration.instanceId]))
    }
}
