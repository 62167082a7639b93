public import SBCore
public import SBEventLoop
public import SBHTTP

/// A long-lived streaming response (Server-Sent Events): the application writes to it until
/// the client goes, it ends it, or the server shuts down. Calls happen on the stream's loop.
public protocol StreamHandler: AnyObject {
    /// The head is queued: the handler may send.
    func opened(_ stream: any ResponseStream)
    /// The connection is gone (EOF, error, cut-off, end or shutdown).
    func closed(_ stream: any ResponseStream)
    /// HEARTBEAT_SECONDS passed: send something small so proxies and clients see life.
    func heartbeat(_ stream: any ResponseStream)
    /// The send queue fell to the low-water mark asked for with `notifyWhenDrained`.
    func sendQueueDrained(_ stream: any ResponseStream)
}

/// What a stream handler may do with its response.
public protocol ResponseStream: AnyObject {
    var loop: EventLoop { get }
    var peer: String { get }
    var queuedBytes: Int { get }
    /// Queues live bytes shared with other recipients; over SEND_QUEUE_BYTES the client is
    /// cut off instead (`.dropped`).
    @discardableResult func sendLive(_ bytes: SharedBytes) -> SendStatus
    @discardableResult func sendLive(_ bytes: [UInt8]) -> SendStatus
    /// Queues bytes the server chose to send (a replay page): never counted against the
    /// cut-off, because the sender paces itself with `notifyWhenDrained`.
    @discardableResult func sendPaced(_ bytes: [UInt8]) -> SendStatus
    /// Asks for one `sendQueueDrained` once the unsent bytes are at or below `lowWater`.
    func notifyWhenDrained(below lowWater: Int)
    /// Ends the response: what is queued is written, then the connection closes.
    func end()
}

extension RequestContext {
    /// Answers the request with a streaming response (the responder returns `.later`): `head`'s
    /// status and headers go out (no body, no length: the stream ends when the connection
    /// does), then `handler` owns the stream. The connection takes no further requests.
    public func startStream(_ head: HTTPResponse, handler: any StreamHandler) {
        connection.startStream(head, handler: handler)
    }
}
