public import SBHTTP
public import SBEventLoop
public import SBCore
public import SBWebSocket

/// Where a request came from. Passed to the application with every request.
public struct RequestContext {
    public let peer: String
    /// For `startStream` and `later()`.
    let connection: Connection
    let isHead: Bool

    /// For a response that is not ready when `respond` returns (a store round trip): answer
    /// it through the returned value, exactly once, on this loop. Costs an allocation, which
    /// routes that answer at once (`.now`) do not pay.
    public func later() -> PendingResponse {
        PendingResponse(connection: connection, isHead: isHead)
    }
}

/// What a responder did with a request.
public enum HTTPAnswer {
    /// The response, ready now: written straight into the connection's write queue.
    case now(HTTPResponse)
    /// Answered through `RequestContext.later()`, or the connection became a stream.
    case later
}

/// A response promised by `.later`: `send` it once, on the connection's loop. Pipelined
/// requests of the connection wait until it is sent, so responses go out in request order.
public final class PendingResponse {
    private weak var connection: Connection?
    private let isHead: Bool
    private var answered = false

    init(connection: Connection, isHead: Bool) {
        self.connection = connection
        self.isHead = isHead
    }

    public func send(_ response: HTTPResponse) {
        guard !answered else { return }
        answered = true
        connection?.finishResponse(response, isHead: isHead)
    }
}

/// The application side of one loop: SBHub implements it. Every call happens on `loop`.
public protocol HTTPResponder: AnyObject {
    /// Answers `request`: `.now` with the response, or `.later` after taking `context.later()`
    /// (or starting a stream). The context is only valid during the call.
    func respond(to request: HTTPRequest, context: RequestContext) -> HTTPAnswer

    /// A syntactically valid WebSocket upgrade arrived: accept it with a handler for the new
    /// session, or reject it with a response (401, 403, 404, 503…).
    func upgrade(_ head: HTTPRequestHead, context: RequestContext) -> UpgradeDecision
}

public enum UpgradeDecision {
    case accept(any WebSocketHandler, maxMessageBytes: Int)
    case reject(HTTPResponse)
}

/// One open WebSocket session's application logic. Calls happen on the connection's loop.
public protocol WebSocketHandler: AnyObject {
    func opened(_ connection: any WebSocketConnection)
    func received(text: [UInt8], from connection: any WebSocketConnection)
    func received(binary: [UInt8], from connection: any WebSocketConnection)
    /// The connection is gone (after a close handshake, an error, a cut-off or shutdown).
    func closed(_ connection: any WebSocketConnection)
    /// The send queue fell to the low-water mark asked for with `notifyWhenDrained`.
    func sendQueueDrained(_ connection: any WebSocketConnection)
}

extension WebSocketHandler {
    public func sendQueueDrained(_ connection: any WebSocketConnection) {}
}

/// What a WebSocket handler may do with its connection.
public protocol WebSocketConnection: AnyObject {
    var loop: EventLoop { get }
    var peer: String { get }
    /// Queues one text message (framed here).
    @discardableResult func sendText(_ payload: [UInt8]) -> SendStatus
    /// Queues a pre-encoded frame shared with other recipients (encode once, send many).
    @discardableResult func sendFrame(_ frame: SharedFrame) -> SendStatus
    /// permessage-deflate was agreed with this client.
    var compressesMessages: Bool { get }
    /// The variant of a broadcast this client gets: the shared compressed frame when it agreed
    /// to permessage-deflate and the message qualifies (WS_COMPRESSION_MIN_BYTES, its window),
    /// the plain one otherwise.
    func frame(for broadcast: BroadcastFrame) -> SharedFrame
    func sendBinary(_ payload: [UInt8])
    /// Queues a message the server chose to send (a replay page), framed (and compressed) here:
    /// never counted against the SEND_QUEUE_BYTES cut-off, because the sender paces itself
    /// with `notifyWhenDrained`.
    @discardableResult func sendReplayText(_ payload: [UInt8]) -> SendStatus
    /// Asks for one `sendQueueDrained` call once the unsent bytes are at or below `lowWater`
    /// (at once, on the next loop turn, if they already are).
    func notifyWhenDrained(below lowWater: Int)
    /// Starts the close handshake with `code`.
    func close(code: UInt16, reason: String)
    var queuedBytes: Int { get }
}

/// What a send did (uWS-style): written or queued, or dropped because the client was cut off.
public enum SendStatus: Equatable {
    case queued
    case dropped
}
