import SBStore
import XCTest
@testable import SBHub

/// Every message the hub writes, pinned byte for byte (dashboards of the old backend parse
/// them), and its Server-Sent Events rendering: `event:` from the type, `id:` from the position.
final class HubMessageTests: XCTestCase {
    private func text(_ message: HubMessage) -> String { String(decoding: message.json, as: UTF8.self) }
    private func sse(_ message: HubMessage) -> String { String(decoding: ServerSentEvents.render(message), as: UTF8.self) }

    private let confirmation = SubscriptionStateMachine.Confirmation(epoch: "e1", lastSeq: 9, oldestSeq: 3, recovered: true)
    private let entry = PresenceEntry(clientId: "c1", instanceId: "sb-1", sinceMillis: 1_700_000_000_000)

    func testEveryMessageIsPinned() {
        let golden: [(HubMessage, String, String, Int64?)] = [
            (.event(sessionId: "s1", seq: 7, storedJSON: Array(#"{"seq":7,"type":"t"}"#.utf8)), "event",
             #"{"type":"event","sessionId":"s1","seq":7,"payload":{"seq":7,"type":"t"}}"#, 7),
            (.event(sessionId: "s1", seq: nil, storedJSON: Array(#"{"type":"t"}"#.utf8)), "event",
             #"{"type":"event","sessionId":"s1","payload":{"type":"t"}}"#, nil),
            (.push(.commands, sessionId: "s1", itemJSON: Array(#"{"id":"k"}"#.utf8)), "command",
             #"{"type":"command","sessionId":"s1","payload":{"id":"k"}}"#, nil),
            (.push(.input, sessionId: "s1", itemJSON: Array(#"{"input":1}"#.utf8)), "input",
             #"{"type":"input","sessionId":"s1","payload":{"input":1}}"#, nil),
            (.connected(clientId: "c1", instanceId: "sb-1"), "subscription_confirmed",
             #"{"type":"subscription_confirmed","payload":{"clientId":"c1","instanceId":"sb-1","message":"connected to switchboard"}}"#, nil),
            (.subscriptionConfirmed(sessionId: "s1", confirmation, clientId: "c1", instanceId: "sb-1"), "subscription_confirmed",
             #"{"type":"subscription_confirmed","sessionId":"s1","payload":{"clientId":"c1","sessionId":"s1","message":"subscribed to s1","epoch":"e1","lastSeq":9,"oldestSeq":3,"recovered":true,"instanceId":"sb-1"}}"#, nil),
            (.unsubscribed(sessionId: "s1"), "unsubscribed", #"{"type":"unsubscribed","sessionId":"s1"}"#, nil),
            (.unsubscribed(sessionId: "s1", reason: "r"), "unsubscribed", #"{"type":"unsubscribed","sessionId":"s1","reason":"r"}"#, nil),
            (.sessionDeleted(sessionId: "s1", epoch: "e2"), "session_deleted",
             #"{"type":"session_deleted","sessionId":"s1","epoch":"e2","payload":{"sessionId":"s1","epoch":"e2"}}"#, 0),
            (.pong(clientId: "c1"), "pong", #"{"type":"pong","clientId":"c1"}"#, nil),
            (.inputQueued(sessionId: "s1"), "input_queued", #"{"type":"input_queued","sessionId":"s1"}"#, nil),
            (.error("bad \"x\"", code: "invalid_message", sessionId: nil), "error",
             #"{"type":"error","payload":{"message":"bad \"x\"","code":"invalid_message"}}"#, nil),
            (.error("no", code: "forbidden", sessionId: "s1"), "error",
             #"{"type":"error","payload":{"message":"no","code":"forbidden","sessionId":"s1"}}"#, nil),
            (.tokenExpiring(expiresAtMillis: 1_700_000_000_000), "token_expiring",
             #"{"type":"token_expiring","payload":{"expiresAt":"2023-11-14T22:13:20.000Z","exp":1700000000}}"#, nil),
            (.tokenRefreshed(expiresAtMillis: 1_700_000_000_000), "token_refreshed",
             #"{"type":"token_refreshed","payload":{"expiresAt":"2023-11-14T22:13:20.000Z","exp":1700000000}}"#, nil),
            (.tokenExpired(sessionId: "s1"), "token_expired", #"{"type":"token_expired","sessionId":"s1"}"#, nil),
            (.presence(sessionId: "s1", PresenceList(count: 2, entries: [entry])), "presence",
             #"{"type":"presence","sessionId":"s1","payload":{"sessionId":"s1","count":2,"clients":[{"clientId":"c1","instanceId":"sb-1","since":"2023-11-14T22:13:20.000Z","info":{}}]}}"#, nil),
            (.presence(sessionId: "s1", .join(entry)), "presence_join",
             #"{"type":"presence_join","sessionId":"s1","payload":{"clientId":"c1","instanceId":"sb-1","since":"2023-11-14T22:13:20.000Z","info":{}}}"#, nil),
            (.presence(sessionId: "s1", .leave(entry)), "presence_leave",
             #"{"type":"presence_leave","sessionId":"s1","payload":{"clientId":"c1","instanceId":"sb-1","since":"2023-11-14T22:13:20.000Z","info":{}}}"#, nil),
            (.presence(sessionId: "s1", .diff(joins: [entry], leaves: [], omittedJoins: 1, omittedLeaves: 0)), "presence_diff",
             #"{"type":"presence_diff","sessionId":"s1","payload":{"joins":[{"clientId":"c1","instanceId":"sb-1","since":"2023-11-14T22:13:20.000Z","info":{}}],"leaves":[],"omittedJoins":1,"omittedLeaves":0}}"#, nil),
        ]
        for (message, type, json, position) in golden {
            XCTAssertEqual(text(message), json)
            XCTAssertEqual(message.type, type, json)
            XCTAssertEqual(message.position, position, json)
            // The JSON's own `type` is the one SSE names (no transport reads it back).
            XCTAssertTrue(json.hasPrefix("{\"type\":\"\(type)\""), json)
        }
    }

    func testServerSentEventsRenderTypeAndPosition() {
        XCTAssertEqual(sse(.event(sessionId: "s1", seq: 7, storedJSON: Array(#"{"a":1}"#.utf8))),
                       "id: 7\nevent: event\ndata: {\"type\":\"event\",\"sessionId\":\"s1\",\"seq\":7,\"payload\":{\"a\":1}}\n\n")
        XCTAssertEqual(sse(.sessionDeleted(sessionId: "s1", epoch: "e2")),
                       "id: 0\nevent: session_deleted\ndata: {\"type\":\"session_deleted\",\"sessionId\":\"s1\",\"epoch\":\"e2\",\"payload\":{\"sessionId\":\"s1\",\"epoch\":\"e2\"}}\n\n")
        XCTAssertEqual(sse(.pong(clientId: "c1")), "event: pong\ndata: {\"type\":\"pong\",\"clientId\":\"c1\"}\n\n")
        // A line break inside stored JSON (whitespace between tokens) starts a new data: line.
        XCTAssertEqual(sse(.event(sessionId: "s1", seq: 1, storedJSON: Array("{\"a\":\r\n1}".utf8))),
                       "id: 1\nevent: event\ndata: {\"type\":\"event\",\"sessionId\":\"s1\",\"seq\":1,\"payload\":{\"a\":\ndata: \ndata: 1}}\n\n")
    }
}
