import SBCore
import SBWebSocket
import SBServer

/// The bytes of the `text/event-stream` format (WHATWG HTML §9.2): each `HubMessage` is
/// `id:` (its `position`: an event's seq, 0 after `session_deleted`), `event:` (its `type`),
/// `data:` (the same JSON as the WebSocket message), and a blank line. Owns every byte an SSE
/// stream writes.
enum ServerSentEvents {
    /// Sent first: how long EventSource waits before it reconnects, and a comment that makes
    /// proxies and `curl -N` show the stream at once.
    static let preamble = Array("retry: 2000\n: switchboard event stream\n\n".utf8)
    static let heartbeat = Array(": heartbeat\n\n".utf8)

    /// One message. Its JSON is a JSON text: a raw CR or LF can only be whitespace between its
    /// tokens, and each one starts a new `data:` line (the client joins them with LF), so the
    /// JSON arrives intact.
    static func render(_ message: HubMessage) -> [UInt8] {
        let (type, id, json) = (message.type, message.position, message.json)
        var out: [UInt8] = []
        out.reserveCapacity(json.count + type.utf8.count + 40)
        if let id {
            out.append(contentsOf: "id: ".utf8)
            out.append(contentsOf: String(id).utf8)
            out.append(UInt8(ascii: "\n"))
        }
        out.append(contentsOf: "event: ".utf8)
        out.append(contentsOf: type.utf8)
        out.append(contentsOf: "\ndata: ".utf8)
        for byte in json {
            if byte == UInt8(ascii: "\n") || byte == UInt8(ascii: "\r") {
                out.append(contentsOf: "\ndata: ".utf8)
            } else {
                out.append(byte)
            }
        }
        out.append(contentsOf: "\n\n".utf8)
        return out
    }
}
