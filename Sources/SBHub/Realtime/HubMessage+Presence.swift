import SBCore
import SBStore

/// The presence messages (issue 26). Entries are spliced in as `PresenceEntry.json` wrote them.
extension HubMessage {
    /// The REST body of `GET /api/sessions/:id/presence`, and the `payload` of the WebSocket's
    /// `presence` message: `{"sessionId","count","clients":[…]}`.
    static func presenceList(sessionId: String, _ list: PresenceList) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(64 + list.entries.count * 160)
        out.append(contentsOf: "{\"sessionId\":".utf8)
        JSONString.append(sessionId, to: &out)
        out.append(contentsOf: ",\"count\":".utf8)
        JSONNumber.append(list.count, to: &out)
        out.append(contentsOf: ",\"clients\":".utf8)
        appendEntries(list.entries, to: &out)
        out.append(UInt8(ascii: "}"))
        return out
    }

    /// `{"type":"presence","sessionId":…,"payload":{"sessionId","count","clients"}}`.
    static func presence(sessionId: String, _ list: PresenceList) -> HubMessage {
        typed("presence", sessionId: sessionId, payload: presenceList(sessionId: sessionId, list))
    }

    /// `presence_join` / `presence_leave` (payload: the entry) or `presence_diff` (payload:
    /// `{"joins","leaves","omittedJoins","omittedLeaves"}`).
    static func presence(sessionId: String, _ notice: PresenceCoalescer.Notice) -> HubMessage {
        switch notice {
        case .join(let entry): return typed("presence_join", sessionId: sessionId, payload: entry.json)
        case .leave(let entry): return typed("presence_leave", sessionId: sessionId, payload: entry.json)
        case .diff(let joins, let leaves, let omittedJoins, let omittedLeaves):
            var payload = Array("{\"joins\":".utf8)
            appendEntries(joins, to: &payload)
            payload.append(contentsOf: ",\"leaves\":".utf8)
            appendEntries(leaves, to: &payload)
            payload.append(contentsOf: ",\"omittedJoins\":".utf8)
            JSONNumber.append(omittedJoins, to: &payload)
            payload.append(contentsOf: ",\"omittedLeaves\":".utf8)
            JSONNumber.append(omittedLeaves, to: &payload)
            payload.append(UInt8(ascii: "}"))
            return typed("presence_diff", sessionId: sessionId, payload: payload)
        }
    }

    private static func typed(_ type: StaticString, sessionId: String, payload: [UInt8]) -> HubMessage {
        HubMessage(type: type.description, json: JSONObjectWriter.make(capacity: payload.count + 96) { message in
            message.string("type", type.description)
            message.string("sessionId", sessionId)
            message.json("payload", payload)
        })
    }

    private static func appendEntries(_ entries: [PresenceEntry], to out: inout [UInt8]) {
        out.append(UInt8(ascii: "["))
        for (index, entry) in entries.enumerated() {
            if index > 0 { out.append(UInt8(ascii: ",")) }
            out.append(contentsOf: entry.json)
        }
        out.append(UInt8(ascii: "]"))
    }
}
