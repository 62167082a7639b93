import SBCore
import SBHTTP
import SBServer

/// Response builders: every body is JSON with the same Content-Type, and every API answer says
/// it is not to be sniffed as another type (a JSON error echoing a path is no HTML page) nor
/// stored by caches (answers hold session data and depend on the caller's key).
enum Reply {
    static let jsonType = ("Content-Type", "application/json; charset=utf-8")
    static let noSniff = ("X-Content-Type-Options", "nosniff")
    static let noStore = ("Cache-Control", "no-store")
    /// Encoded once: every JSON answer copies these bytes, with no per-field work or allocation.
    static let jsonHeaders = HeaderLines([jsonType, noSniff, noStore])
    static let noContentHeaders = HeaderLines([noSniff, noStore])

    static func json(_ status: Int, _ object: Any) -> HTTPResponse {
        HTTPResponse(status: status, body: JSONBody.encode(object), headerLines: jsonHeaders)
    }

    static func raw(_ status: Int, _ body: [UInt8]) -> HTTPResponse {
        HTTPResponse(status: status, body: body, headerLines: jsonHeaders)
    }

    static func error(_ error: HubError) -> HTTPResponse {
        HTTPResponse(status: error.status, headers: error.headers, body: JSONErrorBody.make(error.message), headerLines: jsonHeaders)
    }

    static func noContent() -> HTTPResponse {
        HTTPResponse(status: 204, headerLines: noContentHeaders)
    }
}
