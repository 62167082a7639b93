import SBHTTP
import SBStore

/// Every error the API answers with: a status and a message for `{"error": …}`.
struct HubError: Error {
    var status: Int
    var message: String
    var headers: [(String, String)] = []

    static func badRequest(_ message: String) -> HubError { HubError(status: 400, message: message) }
    static func forbidden(_ message: String) -> HubError { HubError(status: 403, message: message) }
    static func notFound(_ message: String) -> HubError { HubError(status: 404, message: message) }
    static let unsupportedMediaType = HubError(status: 415, message: "Content-Type must be application/json")

    static func from(_ error: StoreError) -> HubError {
        switch error {
        case .unavailable(let why):
            HubError(status: 503, message: "storage unavailable: \(why)", headers: [("Retry-After", "1")])
        case .notFound(let what):
            HubError(status: 404, message: what)
        case .full(let what):
            HubError(status: 429, message: what, headers: [("Retry-After", "1")])
        case .outOfMemory(let reason):
            // 507 Insufficient Storage (RFC 4918 §11.5): no Retry-After, this lasts until an
            // operator frees memory or raises the limit. Only this answers 507 (its metric
            // counts 507s, HubMetrics.recordRequest). The store words the reason.
            HubError(status: 507, message: reason)
        }
    }

    static func from(_ failure: JSONBody.Failure) -> HubError {
        switch failure {
        case .unsupportedMediaType: .unsupportedMediaType
        case .invalid(let message): .badRequest(message)
        }
    }
}
