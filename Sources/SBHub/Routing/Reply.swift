import SBCore
import SBHTTP
import SBServer

/// Response builders: every body is JSON with the same Content-Type.
enum Reply {
    static let jsonType = ("Content-Type", "application/json; charset=utf-8")

    static func json(_ status: Int, _ object: Any) -> HTTPResponse {
        HTTPResponse(status: status, headers: [jsonType], body: JSONBody.encode(object))
    }

    static func raw(_ status: Int, _ body: [UInt8]) -> HTTPResponse {
        HTTPResponse(status: status, headers: [jsonType], body: body)
    }

    static func error(_ error: HubError) -> HTTPResponse {
        HTTPResponse(status: error.status, headers: [jsonType] + error.headers, body: JSONErrorBody.make(error.message))
    }

    static func noContent() -> HTTPResponse {
        HTTPResponse(status: 204)
    }
}
