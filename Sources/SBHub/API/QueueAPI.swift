import Foundation
import SBCore
import SBHTTP
import SBServer
import SBStore

/// Input and command queues: push (and broadcast), atomic drain, acknowledgement.
enum QueueAPI {
    static let commandTypes: Set<String> = ["pause", "resume", "cancel", "abort", "retry", "skip"]

    struct Item {
        let object: [String: Any]
        let json: [UInt8]
    }

    static func inputItem(sessionId: String, input: Any, prompt: String?) -> Item {
        var object: [String: Any] = ["id": IDGenerator.next(), "sessionId": sessionId, "input": input,
                                     "timestamp": ISO8601.format(milliseconds: WallClock.millisecondsSinceEpoch())]
        if let prompt { object["prompt"] = prompt }
        let json = JSONBody.encode(object)
        return Item(object: object, json: json)
    }

    static func postInput(_ request: HTTPRequest, sessionId: String, store: any Store, _ done: @escaping (HTTPResponse) -> Void) {
        guard Field.isValidSessionId(sessionId) else { return done(Reply.error(.badRequest("sessionId \(Field.sessionIdRule)"))) }
        let object: [String: Any]
        switch JSONBody.object(request) {
        case .failure(let failure): return done(Reply.error(.from(failure)))
        case .success(let value): object = value
        }
        guard let input = object["input"], !(input is NSNull) else { return done(Reply.error(.badRequest("input is required"))) }
        let prompt: String?
        do { prompt = try Field.optionalString(object, "prompt").get() } catch { return done(Reply.error(error)) }
        let item = inputItem(sessionId: sessionId, input: input, prompt: prompt)
        store.enqueue(.input, sessionId: sessionId, item: QueuedItem(json: item.json)) { result in
            switch result {
            case .failure(let error): done(Reply.error(.from(error)))
            case .success: done(Reply.json(201, ["success": true, "sessionId": sessionId, "inputQueued": item.object]))
            }
        }
    }

    static func postCommand(_ request: HTTPRequest, sessionId: String, store: any Store, _ done: @escaping (HTTPResponse) -> Void) {
        guard Field.isValidSessionId(sessionId) else { return done(Reply.error(.badRequest("sessionId \(Field.sessionIdRule)"))) }
        let object: [String: Any]
        switch JSONBody.object(request) {
        case .failure(let failure): return done(Reply.error(.from(failure)))
        case .success(let value): object = value
        }
        guard let type = object["type"] as? String else { return done(Reply.error(.badRequest("type is required and must be a string"))) }
        guard commandTypes.contains(type) else {
            return done(Reply.error(.badRequest("type must be one of \(commandTypes.sorted().joined(separator: ", "))")))
        }
        let commandId = IDGenerator.next()
        // `id` first: the stores find it there without parsing (CommandID.extract).
        var json = Array("{\"id\":\"\(commandId)\",".utf8)
        let rest: [String: Any] = ["sessionId": sessionId, "type": type, "payload": object["payload"] ?? NSNull(),
                                   "createdAt": ISO8601.format(milliseconds: WallClock.millisecondsSinceEpoch())]
        json.append(contentsOf: JSONBody.encode(rest).dropFirst())
        var command = rest
        command["id"] = commandId
        store.enqueue(.commands, sessionId: sessionId, item: QueuedItem(json: json)) { result in
            switch result {
            case .failure(let error): done(Reply.error(.from(error)))
            case .success: done(Reply.json(201, ["success": true, "sessionId": sessionId, "commandId": commandId, "command": command]))
            }
        }
    }

    static func drain(_ kind: QueueKind, sessionId: String, store: any Store, _ done: @escaping (HTTPResponse) -> Void) {
        guard Field.isValidSessionId(sessionId) else { return done(Reply.error(.badRequest("sessionId \(Field.sessionIdRule)"))) }
        store.drain(kind, sessionId: sessionId) { result in
            switch result {
            case .failure(let error): done(Reply.error(.from(error)))
            case .success(let items):
                var out = Array("{\"sessionId\":".utf8)
                JSONString.append(sessionId, to: &out)
                out.append(contentsOf: ",\"count\":\(items.count),\"\(kind == .commands ? "commands" : "inputs")\":".utf8)
                SessionsAPI.appendArray(items.map(\.json), to: &out)
                out.append(UInt8(ascii: "}"))
                done(Reply.raw(200, out))
            }
        }
    }

    static func ack(_ request: HTTPRequest, commandId: String, store: any Store, _ done: @escaping (HTTPResponse) -> Void) {
        var object: [String: Any] = [:]
        if !request.body.isEmpty {
            switch JSONBody.object(request) {
            case .failure(let failure): return done(Reply.error(.from(failure)))
            case .success(let value): object = value
            }
        }
        if let error = object["error"], !(error is NSNull), !(error is String) {
            return done(Reply.error(.badRequest("error must be a string")))
        }
        let ack: [String: Any] = ["id": commandId, "acknowledged": true, "result": object["result"] ?? NSNull(),
                                  "error": object["error"] ?? NSNull(),
                                  "acknowledgedAt": ISO8601.format(milliseconds: WallClock.millisecondsSinceEpoch())]
        store.acknowledgeCommand(id: commandId, ack: JSONBody.encode(ack)) { result in
            switch result {
            case .failure(let error): done(Reply.error(.from(error)))
            case .success(false): done(Reply.error(.notFound("command \(commandId) not found (unknown or expired)")))
            case .success(true): done(Reply.json(200, ["success": true, "commandId": commandId, "acknowledged": true]))
            }
        }
    }
}
