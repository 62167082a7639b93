import SBCore
import SBServer

/// The WebSocket messages the hub writes, assembled from bytes (stored event JSON is spliced in
/// as is: never re-serialised).
enum EventMessage {
    static func event(sessionId: String, seq: Int64?, storedJSON: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(storedJSON.count + sessionId.utf8.count + 64)
        out.append(contentsOf: "{\"type\":\"event\",\"sessionId\":".utf8)
        JSONString.append(sessionId, to: &out)
        if let seq {
            out.append(contentsOf: ",\"seq\":".utf8)
            out.append(contentsOf: String(seq).utf8)
        }
        out.append(contentsOf: ",\"payload\":".utf8)
        out.append(contentsOf: storedJSON)
        out.append(UInt8(ascii: "}"))
        return out
    }

    /// `{"type":kind,"sessionId":…,"payload":<json>}` for command and input pushes.
    static func push(kind: String, sessionId: String, payloadJSON: [UInt8]) -> [UInt8] {
        var out = Array("{\"type\":\"\(kind)\",\"sessionId\":".utf8)
        JSONString.append(sessionId, to: &out)
        out.append(contentsOf: ",\"payload\":".utf8)
        out.append(contentsOf: payloadJSON)
        out.append(UInt8(ascii: "}"))
        return out
    }
}
