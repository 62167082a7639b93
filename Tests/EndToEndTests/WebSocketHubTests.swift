import Foundation
import XCTest
import SBTestSupport
import SBWebSocket

/// The /ws hub protocol against a real process.
final class WebSocketHubTests: XCTestCase {
    var server: ServerProcess!

    override func setUpWithError() throws {
        try XCTSkipUnless(ServerProcess.isAvailable, "switchboard binary not built")
        server = try ServerProcess(environment: ["SEND_QUEUE_BYTES": "262144", "ECHO_ENDPOINT": "true"])
    }

    override func tearDown() {
        if let server { XCTAssertEqual(server.stop(), 0, server.log()) }
    }

    func post(_ session: String, _ n: Int, via client: TestHTTPClient) throws -> Int {
        let response = try client.request("POST", "/api/events", json: ["sessionId": session, "type": "t", "timestamp": "2026-11-24T12:00:00Z", "data": ["n": n]])
        XCTAssertEqual(response.status, 201)
        return response.object["seq"] as? Int ?? -1
    }

    func subscribe(_ ws: TestWebSocketClient, _ session: String, lastEventId: Int? = nil) throws {
        var message: [String: Any] = ["type": "subscribe", "sessionId": session]
        if let lastEventId { message["lastEventId"] = lastEventId }
        try ws.sendJSON(message)
        let confirmed = try ws.next(type: "subscription_confirmed")
        XCTAssertEqual(confirmed["sessionId"] as? String, session)
    }

    func testGreetingPingAndErrors() throws {
        let ws = try TestWebSocketClient(port: server.port)
        let hello = try ws.nextJSON()
        XCTAssertEqual(hello["type"] as? String, "subscription_confirmed")
        let clientId = (hello["payload"] as? [String: Any])?["clientId"] as? String
        XCTAssertNotNil(clientId)
        try ws.sendJSON(["type": "ping"])
        let pong = try ws.next(type: "pong")
        XCTAssertEqual(pong["clientId"] as? String, clientId)
        try ws.sendText("{not json")
        let error = try ws.next(type: "error")
        XCTAssertNotNil((error["payload"] as? [String: Any])?["message"] as? String)
        try ws.sendJSON(["type": "teleport"])
        XCTAssertEqual(try ws.next(type: "error")["type"] as? String, "error")
        // Still open after errors.
        try ws.sendJSON(["type": "ping"])
        XCTAssertEqual(try ws.next(type: "pong")["type"] as? String, "pong")
    }

    /// Each bad message gets its error code and message, and the connection stays usable.
    func testMessageErrorsTable() throws {
        let ws = try TestWebSocketClient(port: server.port)
        _ = try ws.nextJSON()
        let rows: [(String, String, String)] = [
            ("{not json", "invalid_json", "message is not a JSON object"),
            ("[1,2]", "invalid_json", "message is not a JSON object"),
            ("{\"type\":\"ping\",}", "invalid_json", "message is not a JSON object"),
            ("\"ping\"", "invalid_json", "message is not a JSON object"),
            ("{\"type\":5}", "invalid_message", "type is required and must be a string"),
            ("{\"sessionId\":\"s\"}", "invalid_message", "type is required and must be a string"),
            ("{\"type\":\"ping\",\"type\":\"subscribe\"}", "invalid_message", "type appears more than once; each field may be given once"),
            ("{\"type\":\"teleport\"}", "unknown_type", "unknown message type 'teleport'"),
            ("{\"type\":\"subscribe\"}", "invalid_session_id", "sessionId must be 1-200 characters of [A-Za-z0-9._:-]"),
            ("{\"type\":\"subscribe\",\"sessionId\":\"a b\"}", "invalid_session_id", "sessionId must be 1-200 characters of [A-Za-z0-9._:-]"),
            ("{\"type\":\"subscribe\",\"sessionId\":\"s\",\"lastEventId\":-1}", "invalid_last_event_id", "lastEventId must be a non-negative integer"),
            ("{\"type\":\"subscribe\",\"sessionId\":\"s\",\"lastEventId\":1.5}", "invalid_last_event_id", "lastEventId must be a non-negative integer"),
            ("{\"type\":\"subscribe\",\"sessionId\":\"s\",\"lastEventId\":\"3\"}", "invalid_last_event_id", "lastEventId must be a non-negative integer"),
            ("{\"type\":\"subscribe\",\"sessionId\":\"s\",\"lastEventId\":true}", "invalid_last_event_id", "lastEventId must be a non-negative integer"),
            ("{\"type\":\"subscribe\",\"sessionId\":\"s\",\"epoch\":\"\"}", "invalid_epoch", "epoch must be a string of 1-64 characters"),
            ("{\"type\":\"subscribe\",\"sessionId\":\"s\",\"epoch\":7}", "invalid_epoch", "epoch must be a string of 1-64 characters"),
            ("{\"type\":\"refresh\",\"token\":\"t\"}", "invalid_refresh", "refresh applies to connections opened with a token"),
        ]
        for (text, code, message) in rows {
            try ws.sendText(text)
            let payload = try ws.next(type: "error")["payload"] as? [String: Any]
            XCTAssertEqual(payload?["code"] as? String, code, text)
            XCTAssertEqual(payload?["message"] as? String, message, text)
        }
        // Accepted forms: an escaped name, a byte order mark, an integral lastEventId as 2e0,
        // null for the optional fields.
        try ws.sendText("\u{FEFF}{\"typ\\u0065\":\"ping\"}")
        XCTAssertEqual(try ws.next(type: "pong")["type"] as? String, "pong")
        try ws.sendText("{\"type\":\"subscribe\",\"sessionId\":\"ws-table\",\"lastEventId\":2e0,\"epoch\":null}")
        XCTAssertEqual(try ws.next(type: "subscription_confirmed")["sessionId"] as? String, "ws-table")
        try ws.sendText("{\"type\":\"unsubscribe\",\"sessionId\":\"ws-table\"}")
        XCTAssertEqual(try ws.next(type: "unsubscribed")["sessionId"] as? String, "ws-table")
    }

    /// `input` passes its payload on as JSON values, whatever their kind.
    func testInputPayloadIsPassedOn() throws {
        let ws = try TestWebSocketClient(port: server.port)
        _ = try ws.nextJSON()
        try ws.sendText(#"{"payload":{"text":"hi é","n":[1,2.5,null,true]},"type":"input","sessionId":"ws-input"}"#)
        XCTAssertEqual(try ws.next(type: "input_queued")["sessionId"] as? String, "ws-input")
        try ws.sendText(#"{"type":"input","sessionId":"ws-input","payload":"plain"}"#)
        _ = try ws.next(type: "input_queued")
        try ws.sendText(#"{"type":"input","sessionId":"ws-input"}"#)
        _ = try ws.next(type: "input_queued")
        let http = try TestHTTPClient(port: server.port)
        let drained = try http.request("GET", "/api/sessions/ws-input/input")
        let inputs = drained.object["inputs"] as? [[String: Any]] ?? []
        XCTAssertEqual(inputs.count, 3, drained.text)
        let first = inputs.first?["input"] as? [String: Any]
        XCTAssertEqual(first?["text"] as? String, "hi é")
        XCTAssertEqual((first?["n"] as? [Any])?.count, 4)
        XCTAssertEqual(inputs.dropFirst().first?["input"] as? String, "plain")
        XCTAssertTrue(inputs.last?["input"] is NSNull, drained.text)
    }

    func testOnlySubscribedSessionsAreDelivered() throws {
        let a = try TestWebSocketClient(port: server.port)
        let b = try TestWebSocketClient(port: server.port)
        _ = try a.nextJSON(); _ = try b.nextJSON()
        try subscribe(a, "iso-A")
        try subscribe(b, "iso-B")
        let http = try TestHTTPClient(port: server.port)
        for n in 1...5 {
            _ = try post("iso-A", n, via: http)
            _ = try post("iso-B", n, via: http)
        }
        for n in 1...5 {
            let ea = try a.next(type: "event")
            XCTAssertEqual(ea["sessionId"] as? String, "iso-A")
            XCTAssertEqual(ea["seq"] as? Int, n)
            XCTAssertEqual(((ea["payload"] as? [String: Any])?["data"] as? [String: Any])?["n"] as? Int, n)
            let eb = try b.next(type: "event")
            XCTAssertEqual(eb["sessionId"] as? String, "iso-B")
        }
        // Nothing else is pending for A: a ping round-trip comes back before any foreign event.
        try a.sendJSON(["type": "ping"])
        XCTAssertEqual(try a.nextJSON()["type"] as? String, "pong")

        // Commands and input reach subscribers too.
        XCTAssertEqual(try http.request("POST", "/api/sessions/iso-A/commands", json: ["type": "pause"]).status, 201)
        XCTAssertEqual(try a.next(type: "command")["sessionId"] as? String, "iso-A")
        XCTAssertEqual(try http.request("POST", "/api/sessions/iso-A/input", json: ["input": "go"]).status, 201)
        XCTAssertEqual(try a.next(type: "input")["sessionId"] as? String, "iso-A")

        // Unsubscribe stops delivery.
        try a.sendJSON(["type": "unsubscribe", "sessionId": "iso-A"])
        _ = try post("iso-A", 6, via: http)
        try a.sendJSON(["type": "ping"])
        var sawEvent = false
        while true {
            let m = try a.nextJSON()
            if m["type"] as? String == "event" { sawEvent = true }
            if m["type"] as? String == "pong" { break }
        }
        XCTAssertFalse(sawEvent)
    }

    func testLastEventIdReplayHasNoGapAndNoDuplicate() throws {
        let http = try TestHTTPClient(port: server.port)
        for n in 1...20 { _ = try post("replay", n, via: http) }
        let ws = try TestWebSocketClient(port: server.port)
        _ = try ws.nextJSON()
        // Publish concurrently with the subscribe so live and replayed events race.
        let port = server.port
        let publisher = Thread {
            if let c = try? TestHTTPClient(port: port) {
                for n in 21...60 { _ = try? c.request("POST", "/api/events", json: ["sessionId": "replay", "type": "t", "timestamp": "2026-11-24T12:00:00Z", "data": ["n": n]]) }
            }
        }
        publisher.start()
        try ws.sendJSON(["type": "subscribe", "sessionId": "replay", "lastEventId": 7])
        var seqs: [Int] = []
        while seqs.count < 53 {
            let m = try ws.nextJSON()
            if m["type"] as? String == "event", let seq = m["seq"] as? Int { seqs.append(seq) }
        }
        XCTAssertEqual(seqs, Array(8...60))
    }

    func testStalledReaderIsCutOffWhileOthersContinue() throws {
        let stalled = try TestWebSocketClient(port: server.port)
        _ = try stalled.nextJSON()
        try subscribe(stalled, "flood")
        // Make the stalled client's kernel buffers small so our queue fills quickly.
        let healthy = try TestWebSocketClient(port: server.port)
        _ = try healthy.nextJSON()
        try subscribe(healthy, "flood")
        let http = try TestHTTPClient(port: server.port)
        let pad = String(repeating: "x", count: 16_000)
        var received = 0
        for n in 1...300 {
            let response = try http.request("POST", "/api/events", json: ["sessionId": "flood", "type": "t", "timestamp": "2026-11-24T12:00:00Z", "pad": pad, "n": n])
            XCTAssertEqual(response.status, 201)
            // The healthy client keeps reading.
            while received < n, let m = try? healthy.next(type: "event"), m["seq"] as? Int != nil { received += 1 }
        }
        XCTAssertEqual(received, 300)
        // The stalled one was cut off: reading now ends with a 1008 close (or EOF) before 300 events.
        var events = 0
        var closeCode: UInt16?
        var readEnded = ""
        stalled.socket.setTimeout(seconds: 5)
        loop: while true {
            let event: WebSocketReadEvent
            do { event = try stalled.next() } catch { readEnded = "\(error)"; break }
            switch event {
            case .text(_): events += 1
            case .close(let code, _): closeCode = code; break loop
            default: continue
            }
        }
        XCTAssertLessThan(events, 300)
        if let closeCode {
            XCTAssertEqual(closeCode, 1008)
        } else {
            // The close frame may not fit behind the discarded queue: then the connection ends.
            XCTAssertEqual(readEnded, "connection closed by server", "cut off: a 1008 close or the end of the connection, not a stall")
        }
        let health = try http.request("GET", "/metrics")
        XCTAssertTrue(health.text.contains("switchboard_slow_clients_cut_off 1"), health.text)
    }

    func testEchoEndpointAndCloseHandshake() throws {
        let ws = try TestWebSocketClient(port: server.port, path: "/echo")
        try ws.sendText("hello")
        XCTAssertEqual(try ws.next(), .text(Array("hello".utf8)))
        try ws.socket.send(TestWebSocketClient.maskedFrame(opcode: 2, payload: [1, 2, 3]))
        XCTAssertEqual(try ws.next(), .binary([1, 2, 3]))
        try ws.sendClose(code: 1000)
        XCTAssertEqual(try ws.next(), .close(code: 1000, reason: ""))
        XCTAssertTrue(ws.socket.receiveUntilClose().isEmpty, "server closes TCP after the close handshake")
    }

    func testSIGTERMSendsGoingAwayAndExitsZero() throws {
        let ws = try TestWebSocketClient(port: server.port)
        _ = try ws.nextJSON()
        let started = Date()
        server.signal(SIGTERM)
        var code: UInt16?
        while let event = try? ws.next() {
            if case .close(let c, _) = event { code = c; break }
        }
        XCTAssertEqual(code, 1001)
        ws.close()
        XCTAssertEqual(server.waitForExit(timeout: 10), 0, server.log())
        XCTAssertLessThan(Date().timeIntervalSince(started), 10)
    }
}
