import Foundation
import SBCore
import SBHTTP
import SBServer
import SBStore

/// `POST /api/events`, `GET /api/events/:sessionId`, `GET /api/events/:sessionId/recent`.
enum EventsAPI {
    static let maxBatch = 1000
    static let maxQueryLimit = 10_000

    /// A repeat of an idempotency key (Idempotency-Key header, or a client eventId seen within
    /// IDEMPOTENCY_TTL) stores and publishes nothing: 200 instead of 201, the original seq and
    /// eventId, and `"duplicate":true`. A batch is 201 when it stored anything.
    static func post(_ request: HTTPRequest, store: any Store, access: Access = .full, onStored: @escaping (_ stored: Int, _ duplicates: Int) -> Void = { _, _ in },
                     _ done: @escaping (HTTPResponse) -> Void) {
        let events: [NewEvent]
        let isBatch: Bool
        switch parseEvents(request) {
        case .failure(let error):
            done(Reply.error(error))
            return
        case .success(let parsed):
            events = parsed.events
            isBatch = parsed.isBatch
        }
        // Every event of a batch, before anything is stored: a batch is all or nothing.
        for (i, event) in events.enumerated() where !access.allows(.publish, on: event.sessionId) {
            done(Reply.error(.forbidden((isBatch ? "events[\(i)]: " : "") + Access.denial(.publish, event.sessionId))))
            return
        }
        store.appendEvents(events) { result in
            switch result {
            case .failure(let error):
                done(Reply.error(.from(error)))
            case .success(let appended):
                let duplicates = appended.reduce(0) { $0 + ($1.duplicate ? 1 : 0) }
                onStored(appended.count - duplicates, duplicates)
                // Written by hand, from literals: this is the agents' hot path.
                var out: [UInt8] = []
                out.reserveCapacity(isBatch ? 64 + appended.count * 110 : 110)
                if isBatch {
                    out.append(literal: "{\"success\":true,\"count\":")
                    JSONNumber.append(appended.count, to: &out)
                    out.append(literal: ",\"results\":[")
                }
                for (i, event) in appended.enumerated() {
                    if i > 0 { out.append(UInt8(ascii: ",")) }
                    out.append(literal: "{\"success\":true,\"eventId\":")
                    JSONString.append(event.eventId, to: &out)
                    out.append(literal: ",\"sessionId\":")
                    JSONString.append(event.sessionId, to: &out)
                    out.append(literal: ",\"seq\":")
                    JSONNumber.append(event.seq, to: &out)
                    if event.duplicate { out.append(literal: ",\"duplicate\":true}") } else { out.append(UInt8(ascii: "}")) }
                }
                if isBatch { out.append(literal: "]}") }
                done(Reply.raw(duplicates == appended.count ? 200 : 201, out))
            }
        }
    }

    /// Top-level fields the server reads, found by the scanner in the same pass that validates.
    /// Foundation would keep the last of repeated keys while the stored bytes keep all, so a
    /// consumer taking the first would see another session than the one checked: a repeat of
    /// any of these is refused.
    enum Key {
        static let table = JSONKeyTable(["sessionId", "eventId", "type", "timestamp", "seq"])
        static let sessionId = 0, eventId = 1, type = 2, timestamp = 3, seq = 4
    }

    /// A request's events, and whether they came as an array. A struct, not a tuple: a
    /// `Result` of a tuple had its generic metadata instantiated per request.
    struct ParsedEvents {
        var events: [NewEvent]
        var isBatch: Bool
    }

    /// Validates the whole body before anything is stored: one bad event rejects the batch.
    static func parseEvents(_ request: HTTPRequest) -> Result<ParsedEvents, HubError> {
        let document: JSONDocument
        switch JSONBody.scan(request, keys: Key.table, maxElements: maxBatch) {
        case .failure(let failure): return .failure(.from(failure))
        case .success(let scanned): document = scanned
        }
        var headerKey: String?
        if let key = request.head.headers["idempotency-key"] {
            guard (1...200).contains(key.utf8.count), key.utf8.allSatisfy({ $0 >= 0x21 && $0 <= 0x7E }) else {
                return .failure(.badRequest("Idempotency-Key must be 1-200 visible ASCII characters"))
            }
            headerKey = key
        }
        if document.root.kind == .array {
            guard headerKey == nil else {
                return .failure(.badRequest("Idempotency-Key applies to a single event; give each event of a batch its own eventId"))
            }
            guard document.elementCount > 0 else { return .failure(.badRequest("event array is empty")) }
            guard document.elementCount <= maxBatch else {
                return .failure(.badRequest("at most \(maxBatch) events per request, got \(document.elementCount)"))
            }
            var events: [NewEvent] = []
            events.reserveCapacity(document.elements.count)
            for (i, element) in document.elements.enumerated() {
                switch makeEvent(document, element, index: i) {
                case .failure(let error): return .failure(error)
                case .success(let event): events.append(event)
                }
            }
            return .success(ParsedEvents(events: events, isBatch: true))
        }
        switch makeEvent(document, document.root, index: nil) {
        case .failure(let error): return .failure(error)
        case .success(var event):
            if let headerKey { event.idempotencyKey = "k:" + headerKey }
            return .success(ParsedEvents(events: [event], isBatch: false))
        }
    }

    /// `index` is the element's place in a batch (nil for a single event), for the messages.
    private static func makeEvent(_ document: JSONDocument, _ element: JSONElement, index: Int?) -> Result<NewEvent, HubError> {
        func failure(_ message: String) -> Result<NewEvent, HubError> {
            .failure(.badRequest(index.map { "events[\($0)].\(message)" } ?? message))
        }
        guard element.kind == .object else {
            return .failure(.badRequest(index.map { "events[\($0)] must be a JSON object" } ?? "event must be a JSON object or an array of objects"))
        }
        if let repeated = element.repeatedKey {
            return failure("\(Key.table.names[repeated]) appears more than once; each field may be given once")
        }
        guard let sessionId = document.string(document.member(Key.sessionId, of: element)) else {
            return failure("sessionId is required and must be a string")
        }
        guard Field.isValidSessionId(sessionId) else { return failure("sessionId \(Field.sessionIdRule)") }
        // `type` and `timestamp` are only checked: read in place when unescaped (the usual
        // case), no `String` made for them.
        let typeMember = document.member(Key.type, of: element)
        let typeLength = typeMember.kind == .string && !typeMember.escaped ? typeMember.range.count
            : document.string(typeMember).map { $0.utf8.count }
        guard let typeLength else { return failure("type is required and must be a string") }
        guard typeLength > 0, typeLength <= 200 else { return failure("type must be 1-200 characters") }
        let timestampMember = document.member(Key.timestamp, of: element)
        guard timestampMember.kind == .string else { return failure("timestamp is required and must be an ISO-8601 string") }
        let parsed = document.withUnescapedString(timestampMember, ISO8601.parse) ?? document.string(timestampMember).flatMap(ISO8601.parse)
        guard let millis = parsed else {
            let timestamp = document.string(timestampMember) ?? ""
            return failure("timestamp '\(timestamp.prefix(64))' is not an ISO-8601 date-time")
        }
        // Present at all, even `null`, as before (Foundation gave NSNull for it).
        if document.member(Key.seq, of: element).isPresent { return failure("seq is assigned by the server and must not be sent") }
        let bytes = document.bytes[element.range]
        var body: [UInt8]
        let eventId: String
        var idempotencyKey: String?
        let given = document.member(Key.eventId, of: element)
        if given.isPresent {
            guard let id = document.string(given), !id.isEmpty, id.utf8.count <= 200 else {
                return failure("eventId must be a string of 1-200 characters")
            }
            eventId = id
            body = Array(bytes)
            idempotencyKey = "e:" + id
        } else {
            eventId = IDGenerator.next()
            body = []
            body.reserveCapacity(bytes.count + 52)
            body.append(literal: "{\"eventId\":\"")
            var id = eventId  // a UUID: nothing to escape
            id.withUTF8 { body.append(contentsOf: $0) }
            body.append(literal: "\",")
            body.append(contentsOf: bytes.dropFirst())
        }
        return .success(NewEvent(sessionId: sessionId, eventId: eventId, timestampMillis: millis, body: body, idempotencyKey: idempotencyKey))
    }

    static func list(_ request: HTTPRequest, sessionId: String, store: any Store, _ done: @escaping (HTTPResponse) -> Void) {
        guard Field.isValidSessionId(sessionId) else { return done(Reply.error(.badRequest("sessionId \(Field.sessionIdRule)"))) }
        var query = EventQuery(limit: 1000)
        if let since = request.head.queryValue("since") {
            guard let millis = ISO8601.parse(since) else { return done(Reply.error(.badRequest("since must be an ISO-8601 date-time"))) }
            query.sinceMillis = millis
        }
        if let after = request.head.queryValue("after") {
            guard let seq = Int64(after), seq >= 0 else { return done(Reply.error(.badRequest("after must be a non-negative integer"))) }
            query.after = seq
        }
        switch intParam(request, "limit", default: 1000, range: 1...maxQueryLimit) {
        case .failure(let error): return done(Reply.error(error))
        case .success(let limit): query.limit = limit
        }
        store.events(sessionId: sessionId, query: query) { result in
            switch result {
            case .failure(let error): done(Reply.error(.from(error)))
            case .success(let events): done(Reply.raw(200, eventsBody(sessionId: sessionId, extra: nil, events: events)))
            }
        }
    }

    static func recent(_ request: HTTPRequest, sessionId: String, store: any Store, _ done: @escaping (HTTPResponse) -> Void) {
        guard Field.isValidSessionId(sessionId) else { return done(Reply.error(.badRequest("sessionId \(Field.sessionIdRule)"))) }
        let limit: Int
        let seconds: Int
        switch intParam(request, "limit", default: 50, range: 1...1000) {
        case .failure(let error): return done(Reply.error(error))
        case .success(let value): limit = value
        }
        switch intParam(request, "seconds", default: 60, range: 1...31_536_000) {
        case .failure(let error): return done(Reply.error(error))
        case .success(let value): seconds = value
        }
        let cutoff = WallClock.millisecondsSinceEpoch() - Int64(seconds) * 1000
        let cutoffText = ISO8601.format(milliseconds: cutoff)
        store.events(sessionId: sessionId, query: EventQuery(sinceMillis: cutoff, limit: limit, newest: true)) { result in
            switch result {
            case .failure(let error): done(Reply.error(.from(error)))
            case .success(let events):
                done(Reply.raw(200, eventsBody(sessionId: sessionId, extra: ("cutoffTime", cutoffText), events: events)))
            }
        }
    }

    static func intParam(_ request: HTTPRequest, _ name: String, default value: Int, range: ClosedRange<Int>) -> Result<Int, HubError> {
        guard let text = request.head.queryValue(name) else { return .success(value) }
        guard let number = Int(text), range.contains(number) else {
            return .failure(.badRequest("\(name) must be an integer from \(range.lowerBound) to \(range.upperBound)"))
        }
        return .success(number)
    }

    /// `{"sessionId":…,"count":N,[extra,]"events":[…]}` with stored events spliced in as bytes.
    static func eventsBody(sessionId: String, extra: (String, String)?, events: [StoredEvent]) -> [UInt8] {
        var out = Array("{\"sessionId\":".utf8)
        JSONString.append(sessionId, to: &out)
        out.append(contentsOf: ",\"count\":\(events.count)".utf8)
        if let (key, value) = extra {
            out.append(contentsOf: ",\"\(key)\":".utf8)
            JSONString.append(value, to: &out)
        }
        out.append(contentsOf: ",\"events\":[".utf8)
        for (i, event) in events.enumerated() {
            if i > 0 { out.append(UInt8(ascii: ",")) }
            out.append(contentsOf: event.json)
        }
        out.append(contentsOf: "]}".utf8)
        return out
    }
}
