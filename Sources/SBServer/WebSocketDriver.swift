import SBCore
import Synchronization
import SBEventLoop
import SBWebSocket
import Logging

/// A connection's WebSocket phase: the frame reader, the session's handler and the close
/// handshake and heartbeat machine. Held inline in `Connection.driver`.
struct WebSocketDriver {
    // Widest first, bytes last: no padding (idle memory per connection).
    var reader: WebSocketReader
    let handler: any WebSocketHandler
    var machine: WebSocketConnectionStateMachine
    /// 0 unless permessage-deflate was agreed; then the client's window for our messages
    /// (server_max_window_bits), which bounds the messages we may compress for it.
    let deflateWindowBits: UInt8
}

extension Connection: WebSocketConnection {
    var queuedBytes: Int { writeQueue.byteCount }

    /// Runs `change` on the WebSocket driver in place and returns its result (nil without a
    /// WebSocket driver). The driver is taken out of `driver` for the change, so the reader's
    /// buffers are not copied, and put back before anything it decided is performed.
    @inline(__always)
    func updateWebSocket<Result>(_ change: (inout WebSocketDriver) -> Result) -> Result? {
        guard case .webSocket(var webSocket) = driver else { return nil }
        driver = .closed
        let result = change(&webSocket)
        driver = .webSocket(webSocket)
        return result
    }

    func webSocketReceived(_ bytes: UnsafeRawBufferPointer) {
        let now = loop.now
        updateWebSocket {
            $0.machine.bytesReceived(now: now)
            $0.reader.feed(bytes)
        }
        processWebSocket()
    }

    func processWebSocket() {
        let server = server  // its inflater is made on first use: only for compressed messages
        while !closed, let event = updateWebSocket({ $0.reader.next(inflate: { server.inflater.inflate(&$0, limit: $1) }) }) ?? nil {
            guard case .webSocket(let webSocket) = driver else { return }
            switch event {
            case .text(let payload):
                if webSocket.machine.messageReceived() == .deliver { webSocket.handler.received(text: payload, from: self) }
            case .binary(let payload):
                if webSocket.machine.messageReceived() == .deliver { webSocket.handler.received(binary: payload, from: self) }
            case .ping(let payload):
                if webSocket.machine.pingReceived() == .sendPong { enqueue(WebSocketFrameEncoder.encode(opcode: .pong, payload: payload)) }
            case .pong:
                let now = loop.now
                updateWebSocket { $0.machine.pongReceived(now: now) }
            case .close(let code, _):
                let now = loop.now
                performWebSocket(updateWebSocket { $0.machine.closeReceived(code: code, now: now) })
                return
            case .failure(let code, let reason):
                logger.debug("websocket protocol error", metadata: ["peer": "\(peer)", "code": "\(code)", "reason": "\(reason)"])
                let now = loop.now
                performWebSocket(updateWebSocket { $0.machine.protocolError(code: code, reason: reason, now: now) })
                return
            }
        }
    }

    /// Does what the WebSocket state machine decided. `.deliver`, `.send` and `.sendPong` are
    /// performed by the caller, which holds the message or frame.
    func performWebSocket(_ action: WebSocketConnectionStateMachine.Action?) {
        guard !closed, let action else { return }
        switch action {
        case .nothing, .deliver, .send, .sendPong:
            break
        case .sendPing:
            enqueue(WebSocketFrameEncoder.encode(opcode: .ping, payload: []))
        case .sendClose(let code, let reason):
            enqueue(code.map { WebSocketFrameEncoder.closeFrame(code: $0, reason: reason) }
                    ?? WebSocketFrameEncoder.encode(opcode: .close, payload: []))
            writeNow()
        case .cutOff:
            countCutOff(kind: nil)
            writeQueue.dropUnstarted()
            enqueue(WebSocketFrameEncoder.closeFrame(code: 1008, reason: WebSocketConnectionStateMachine.cutOffReason))
            writeNow()
        case .notifyDrained:
            scheduleDrainNotification()
        case .flush:
            writeNow()
        case .close:
            close()
        case .abort:
            close(abortive: true)
        }
    }

    /// Written now, not at the end of the turn: a cut-off client is closed right after.
    private func writeNow() {
        guard !closed else { return }
        _ = writeQueued()
        server.scheduleFlush(self)
    }

    /// Whether a live message may be queued; over the limit, the client is cut off here.
    private func admitLive() -> Bool {
        guard case .webSocket(let webSocket) = driver else { return false }
        let action = webSocket.machine.liveSend(queued: writeQueue.byteCount)
        if action == .cutOff {
            let now = loop.now
            updateWebSocket { $0.machine.cutOff(now: now) }
            performWebSocket(.cutOff)
        }
        return action == .send
    }

    @discardableResult
    func sendText(_ payload: [UInt8]) -> SendStatus {
        guard admitLive() else { return .dropped }
        enqueue(frame(opcode: .text, payload: payload))
        return .queued
    }

    /// Once per delivery: a read of the machine, no allocation.
    @discardableResult
    func sendFrame(_ frame: SharedFrame) -> SendStatus {
        guard admitLive() else { return .dropped }
        enqueue(frame)
        return .queued
    }

    func sendBinary(_ payload: [UInt8]) {
        guard admitLive() else { return }
        enqueue(frame(opcode: .binary, payload: payload))
    }

    @discardableResult
    func sendReplayText(_ payload: [UInt8]) -> SendStatus {
        guard case .webSocket(let webSocket) = driver, webSocket.machine.replaySend() == .send else { return .dropped }
        enqueue(frame(opcode: .text, payload: payload))
        return .queued
    }

    private var deflateWindowBits: UInt8 {
        if case .webSocket(let webSocket) = driver { return webSocket.deflateWindowBits }
        return 0
    }

    var compressesMessages: Bool { deflateWindowBits != 0 }

    /// Compressed when permessage-deflate was agreed, the payload is at least
    /// WS_COMPRESSION_MIN_BYTES and within what the client's window allows, and compressing
    /// makes it smaller; plain otherwise.
    private func frame(opcode: WebSocketOpcode, payload: [UInt8]) -> [UInt8] {
        if mayCompress(payloadCount: payload.count),
           let compressed = server.deflater.compressedFrame(opcode: opcode, payload: payload) {
            return compressed
        }
        return WebSocketFrameEncoder.encode(opcode: opcode, payload: payload)
    }

    private func mayCompress(payloadCount: Int) -> Bool {
        let windowBits = deflateWindowBits
        return windowBits != 0 && payloadCount >= server.compressionMinBytes
            && payloadCount <= PerMessageDeflate.maxCompressiblePayload(serverMaxWindowBits: windowBits)
    }

    func frame(for broadcast: BroadcastFrame) -> SharedFrame {
        mayCompress(payloadCount: broadcast.payloadCount) ? broadcast.deflatedFrame(using: server.deflater) : broadcast.plain
    }

    /// Also `ResponseStream`'s: whichever driver the connection has keeps the watch.
    func notifyWhenDrained(below lowWater: Int) {
        let queued = writeQueue.byteCount
        switch driver {
        case .webSocket: performWebSocket(updateWebSocket { $0.machine.notifyWhenDrained(below: lowWater, queued: queued) })
        case .stream: performHTTP(updateStream { $0.machine.notifyWhenDrained(below: lowWater, queued: queued) })
        case .http, .closed: break
        }
    }

    func close(code: UInt16, reason: String) {
        let now = loop.now
        performWebSocket(updateWebSocket { $0.machine.closeRequested(code: code, reason: reason, now: now) })
    }

    /// The heartbeat interval elapsed (WebSockets only: a stream's heartbeat is its machine's
    /// timer).
    func heartbeat(now: UInt64) {
        guard let action = updateWebSocket({ $0.machine.heartbeat(now: now) }) else { return }
        if action == .close {
            logger.info("websocket client silent for two heartbeats, dropping", metadata: ["peer": "\(peer)"])
        }
        performWebSocket(action)
    }
}
