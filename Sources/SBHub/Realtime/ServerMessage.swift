import SBCore
import SBServer

/// The JSON of every message the hub sends its clients (events, pushes, confirmations,
/// `session_deleted`, errors), the counterpart of `ClientMessage`; WebSocket frames and
/// Server-Sent Events carry the same bytes. Assembled from bytes: stored event JSON is spliced
/// in as is, never re-serialised.
enum ServerMessage {
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

    /// `subscription_confirmed` for one session, on the WebSocket (with the client id) and on
    /// Server-Sent Events (with the instance id) alike.
    static func subscriptionConfirmed(sessionId: String, _ confirmation: SubscriptionStateMachine.Confirmation,
                                      clientId: String? = nil, instanceId: String? = nil) -> [UInt8] {
        JSONObjectWriter.make(capacity: 256) { message in
            message.string("type", "subscription_confirmed")
            message.string("sessionId", sessionId)
            message.object("payload") { payload in
                if let clientId { payload.string("clientId", clientId) }
                payload.string("sessionId", sessionId)
                payload.string("message", "subscribed to " + sessionId)
                payload.string("epoch", confirmation.epoch)
                payload.integer("lastSeq", confirmation.lastSeq)
                payload.integer("oldestSeq", confirmation.oldestSeq)
                payload.bool("recovered", confirmation.recovered)
                if let instanceId { payload.string("instanceId", instanceId) }
            }
        }
    }

    static func sessionDeleted(sessionId: String, epoch: String) -> [UInt8] {
        JSONObjectWriter.make { message in
            message.string("type", "session_deleted")
            message.string("sessionId", sessionId)
            message.string("epoch", epoch)
            message.object("payload") { payload in
                payload.string("sessionId", sessionId)
                payload.string("epoch", epoch)
            }
        }
    }

    static func error(_ text: String, code: String, sessionId: String?) -> [UInt8] {
        JSONObjectWriter.make { message in
            message.string("type", "error")
            message.object("payload") { payload in
                payload.string("message", text)
                payload.string("code", code)
                if let sessionId { payload.string("sessionId", sessionId) }
            }
        }
    }
}
