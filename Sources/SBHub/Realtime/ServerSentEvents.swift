import SBCore
import SBWebSocket
import SBServer

/// The bytes of the `text/event-stream` format (WHATWG HTML §9.2): each message is
/// `id:` (events only: the seq), `event:` (the message's `type`), `data:` (the same JSON as the
/// WebSocket message), and a blank line. Owns every byte an SSE stream writes.
enum ServerSentEvents {
    /// Sent first: how long EventSource waits before it reconnects, and a comment that makes
    /// proxies and `curl -N` show the stream at once.
    static let preamble = Array("retry: 2000\n: switchboard event stream\n\n".utf8)
    static let heartbeat = Array(": heartbeat\n\n".utf8)

    /// One message. `json` is a JSON text: a raw CR or LF can only be whitespace between its
    /// tokens, and each one starts a new `data:` line (the client joins them with LF), so the
    /// JSON arrives intact.
    static func message(type: String, id: Int64?, json: [UInt8]) -> [UInt8] {
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

    /// The same message as a WebSocket text frame the hub built once (`Hub.receive`): its
    /// payload is the `data:`, its `type` the `event:`.
    static func fromWebSocketFrame(_ frame: SharedFrame, seq: Int64?) -> SharedBytes {
        let bytes = frame.bytes
        guard bytes.count >= 2 else { return SharedBytes([]) }
        let length = bytes[1] & 0x7F
        let start = length < 126 ? 2 : (length == 126 ? 4 : 10)
        let payload = Array(bytes[min(start, bytes.count)...])
        return SharedBytes(message(type: messageType(payload), id: seq, json: payload))
    }

    /// The `type` of a hub message: every one starts with `{"type":"…"` (ServerMessage).
    static func messageType(_ json: [UInt8]) -> String {
        let prefix = Array("{\"type\":\"".utf8)
        guard json.starts(with: prefix) else { return "message" }
        let rest = json[prefix.count...]
        guard let end = rest.firstIndex(of: UInt8(ascii: "\"")), end - prefix.count <= 64 else { return "message" }
        return String(decoding: json[prefix.count..<end], as: UTF8.self)
    }
}
