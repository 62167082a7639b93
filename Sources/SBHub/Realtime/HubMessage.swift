import SBCore
import SBStore

/// One message the hub sends a client, written once and rendered by each transport: the
/// WebSocket sends `json` as a text frame; Server-Sent Events (`ServerSentEvents.render`)
/// write `type` as `event:`, `position` as `id:` and `json` as `data:`. No transport reads a
/// message back to learn its type or seq.
///
/// Every message the hub writes is built here (and in `HubMessage+Presence`), the counterpart
/// of `ClientMessage`; golden tests (`HubMessageTests`) pin each one's bytes. Assembled from
/// bytes: stored event JSON is spliced in as is, never re-serialised.
struct HubMessage: Sendable {
    /// The message's `type` member (the SSE `event:` name).
    let type: String
    /// Where a client resumes after this message: an event's seq, 0 after `session_deleted`
    /// (the stream starts again), nil for every other message (SSE writes no `id:` then).
    let position: Int64?
    /// The whole JSON object, `{"type":…,…}`.
    let json: [UInt8]

    init(type: String, position: Int64? = nil, json: [UInt8]) {
        self.type = type
        self.position = position
        self.json = json
    }

    private init(type: StaticString, position: Int64? = nil, _ write: (inout JSONObjectWriter) -> Void) {
        self.init(type: type.description, position: position, json: JSONObjectWriter.make { message in
            message.string("type", type.description)
            write(&message)
        })
    }

    // MARK: Events and pushes

    /// `{"type":"event","sessionId":…,"seq":N,"payload":<stored event>}`, live (built once in
    /// `Hub.receive` for every loop and subscriber) and replayed alike.
    static func event(sessionId: String, seq: Int64?, storedJSON: [UInt8]) -> HubMessage {
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
        return HubMessage(type: "event", position: seq, json: out)
    }

    /// `{"type":"command"|"input","sessionId":…,"payload":<queued item>}`: a queued command or
    /// input, pushed to the session's subscribers.
    static func push(_ queue: QueueKind, sessionId: String, itemJSON: [UInt8]) -> HubMessage {
        let type = queue == .commands ? "command" : "input"
        var out = Array("{\"type\":\"\(type)\",\"sessionId\":".utf8)
        JSONString.append(sessionId, to: &out)
        out.append(contentsOf: ",\"payload\":".utf8)
        out.append(contentsOf: itemJSON)
        out.append(UInt8(ascii: "}"))
        return HubMessage(type: type, json: out)
    }

    // MARK: Subscriptions

    /// The first message on a WebSocket (the old backend's greeting, kept for its dashboards):
    /// `subscription_confirmed` without a session.
    static func connected(clientId: String, instanceId: String) -> HubMessage {
        HubMessage(type: "subscription_confirmed") { message in
            message.object("payload") { payload in
                payload.string("clientId", clientId)
                payload.string("instanceId", instanceId)
                payload.string("message", "connected to switchboard")
            }
        }
    }

    /// `subscription_confirmed` for one session, one shape on the WebSocket and on Server-Sent
    /// Events: `clientId` is the connection's id (a stream's is its presence id).
    static func subscriptionConfirmed(sessionId: String, _ confirmation: SubscriptionStateMachine.Confirmation,
                                      clientId: String, instanceId: String) -> HubMessage {
        HubMessage(type: "subscription_confirmed") { message in
            message.string("sessionId", sessionId)
            message.object("payload") { payload in
                payload.string("clientId", clientId)
                payload.string("sessionId", sessionId)
                payload.string("message", "subscribed to " + sessionId)
                payload.string("epoch", confirmation.epoch)
                payload.integer("lastSeq", confirmation.lastSeq)
                payload.integer("oldestSeq", confirmation.oldestSeq)
                payload.bool("recovered", confirmation.recovered)
                payload.string("instanceId", instanceId)
            }
        }
    }

    /// `reason`: why the server ended it (a refreshed token that no longer grants it).
    static func unsubscribed(sessionId: String, reason: String? = nil) -> HubMessage {
        HubMessage(type: "unsubscribed") { message in
            message.string("sessionId", sessionId)
            if let reason { message.string("reason", reason) }
        }
    }

    /// The session was deleted and its stream starts again under `epoch` (SSE `id: 0`).
    static func sessionDeleted(sessionId: String, epoch: String) -> HubMessage {
        HubMessage(type: "session_deleted", position: 0) { message in
            message.string("sessionId", sessionId)
            message.string("epoch", epoch)
            message.object("payload") { payload in
                payload.string("sessionId", sessionId)
                payload.string("epoch", epoch)
            }
        }
    }

    // MARK: Replies

    static func pong(clientId: String) -> HubMessage {
        HubMessage(type: "pong") { message in
            message.string("clientId", clientId)
        }
    }

    static func inputQueued(sessionId: String) -> HubMessage {
        HubMessage(type: "input_queued") { message in
            message.string("sessionId", sessionId)
        }
    }

    static func error(_ text: String, code: String, sessionId: String?) -> HubMessage {
        HubMessage(type: "error") { message in
            message.object("payload") { payload in
                payload.string("message", text)
                payload.string("code", code)
                if let sessionId { payload.string("sessionId", sessionId) }
            }
        }
    }

    // MARK: Tokens

    static func tokenExpiring(expiresAtMillis: Int64) -> HubMessage {
        tokenExpiry("token_expiring", expiresAtMillis: expiresAtMillis)
    }

    static func tokenRefreshed(expiresAtMillis: Int64) -> HubMessage {
        tokenExpiry("token_refreshed", expiresAtMillis: expiresAtMillis)
    }

    /// `{"type":…,"payload":{"expiresAt":<ISO>,"exp":<seconds>}}`: when the token ends.
    private static func tokenExpiry(_ type: StaticString, expiresAtMillis: Int64) -> HubMessage {
        HubMessage(type: type) { message in
            message.object("payload") { payload in
                payload.string("expiresAt", ISO8601.format(milliseconds: expiresAtMillis))
                payload.integer("exp", expiresAtMillis / 1000)
            }
        }
    }

    /// A token-opened stream ends at its `exp` (streams cannot refresh).
    static func tokenExpired(sessionId: String) -> HubMessage {
        HubMessage(type: "token_expired") { message in
            message.string("sessionId", sessionId)
        }
    }
}
