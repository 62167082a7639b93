import SBCore
import SBHTTP
import SBServer

/// `GET /api/events/:sessionId/stream`: Server-Sent Events. What a stream resumes from and
/// the head it opens with; `StreamClient` does the rest.
enum EventStreamAPI {
    struct Start: Equatable {
        var lastEventId: Int64?
        var epoch: String?
        /// `?presence=1` (or `true`): presence messages on the stream too.
        var presence = false
    }

    /// `Cache-Control: no-transform` and `X-Accel-Buffering: no`: proxies (nginx) must pass
    /// each message on as it comes, not buffer or compress the stream.
    static let headers: [(String, String)] = [
        ("Content-Type", "text/event-stream; charset=utf-8"),
        ("Cache-Control", "no-cache, no-transform"),
        ("X-Accel-Buffering", "no"),
        ("X-Content-Type-Options", "nosniff"),
    ]

    /// The resume point: `Last-Event-ID` (what EventSource sends on reconnect), else
    /// `?lastEventId=`, a non-negative integer (the last seq seen); `?epoch=` as on the
    /// WebSocket. The header wins: EventSource keeps its URL (and so the query it was opened
    /// with) but sends the last id it got. An empty `Last-Event-ID` means none.
    static func start(_ head: HTTPRequestHead, sessionId: String) -> Result<Start, HubError> {
        guard Field.isValidSessionId(sessionId) else { return .failure(.badRequest("sessionId \(Field.sessionIdRule)")) }
        var start = Start()
        let header = head.headers["last-event-id"].map { $0.trimmingSpaces() }
        if let text = header.flatMap({ $0.isEmpty ? nil : String($0) }) ?? head.queryValue("lastEventId") {
            guard text.utf8.count <= 19, text.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }), let seq = Int64(text) else {
                return .failure(.badRequest("Last-Event-ID (or lastEventId) must be a non-negative integer: the last seq received"))
            }
            start.lastEventId = seq
        }
        if let epoch = head.queryValue("epoch") {
            guard !epoch.isEmpty, epoch.utf8.count <= 64 else { return .failure(.badRequest("epoch must be a string of 1-64 characters")) }
            start.epoch = epoch
        }
        if let presence = head.queryValue("presence") {
            switch presence {
            case "1", "true": start.presence = true
            case "0", "false": start.presence = false
            default: return .failure(.badRequest("presence must be 1 or 0 (true or false)"))
            }
        }
        return .success(start)
    }
}

private extension String {
    func trimmingSpaces() -> Substring {
        var text = Substring(self)
        while text.first == " " || text.first == "\t" { text = text.dropFirst() }
        while text.last == " " || text.last == "\t" { text = text.dropLast() }
        return text
    }
}
