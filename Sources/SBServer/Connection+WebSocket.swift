import SBCore
import Synchronization
import SBEventLoop
import SBWebSocket
import Logging

extension Connection: WebSocketConnection {
    var queuedBytes: Int { writeQueue.byteCount }

    func processWebSocket() {
        while !closed, case .webSocket(var reader, let handler) = proto {
            proto = .lingering
            let event = reader.next()
            proto = .webSocket(reader, handler)
            guard let event else { return }
            switch event {
            case .text(let payload):
                if closeSentAt == 0 { handler.received(text: payload, from: self) }
            case .binary(let payload):
                if closeSentAt == 0 { handler.received(binary: payload, from: self) }
            case .ping(let payload):
                if closeSentAt == 0 { enqueue(WebSocketFrameEncoder.encode(opcode: .pong, payload: payload)) }
            case .pong:
                break
            case .close(let code, _):
                closeReceived = true
                if closeSentAt == 0 {
                    // Echo the peer's code (RFC 6455 §5.5.1), then close once it is written.
                    let reply: [UInt8] = code.map { WebSocketFrameEncoder.closeFrame(code: $0, reason: "") }
                        ?? WebSocketFrameEncoder.encode(opcode: .close, payload: [])
                    enqueue(reply)
                    closeSentAt = MonotonicClock.now()
                }
                closeAfterFlush = true
                pauseReading()
                server.scheduleFlush(self)
                return
            case .failure(let code, let reason):
                logger.debug("websocket protocol error", metadata: ["peer": "\(peer)", "code": "\(code)", "reason": "\(reason)"])
                closeReceived = true  // nothing more will be read: close as soon as the frame is out
                if closeSentAt == 0 {
                    enqueue(WebSocketFrameEncoder.closeFrame(code: code, reason: reason))
                    closeSentAt = MonotonicClock.now()
                }
                closeAfterFlush = true
                pauseReading()
                server.scheduleFlush(self)
                return
            }
        }
    }

    @discardableResult
    func sendText(_ payload: [UInt8]) -> SendStatus {
        guard !closed, closeSentAt == 0, withinBudget() else { return .dropped }
        enqueue(WebSocketFrameEncoder.encode(opcode: .text, payload: payload))
        return .queued
    }

    @discardableResult
    func sendFrame(_ frame: SharedFrame) -> SendStatus {
        guard !closed, closeSentAt == 0, withinBudget() else { return .dropped }
        enqueue(frame)
        return .queued
    }

    @discardableResult
    func sendReplayFrame(_ frame: SharedFrame) -> SendStatus {
        guard !closed, closeSentAt == 0 else { return .dropped }
        enqueue(frame)
        return .queued
    }

    func notifyWhenDrained(below lowWater: Int) {
        guard !closed else { return }
        drainWatermark = lowWater
        if writeQueue.byteCount <= lowWater {
            // Already below: answer on the next turn, never re-entrantly inside the caller.
            loop.schedule(after: .zero) { [weak self] in self?.reportDrainedIfBelowWatermark() }
        }
    }

    /// Called after every flush: one `sendQueueDrained` per `notifyWhenDrained`.
    func reportDrainedIfBelowWatermark() {
        guard let watermark = drainWatermark, !closed, writeQueue.byteCount <= watermark,
              case .webSocket(_, let handler) = proto else { return }
        drainWatermark = nil
        handler.sendQueueDrained(self)
    }

    func sendBinary(_ payload: [UInt8]) {
        guard !closed, closeSentAt == 0, withinBudget() else { return }
        enqueue(WebSocketFrameEncoder.encode(opcode: .binary, payload: payload))
    }

    /// A client that has more than SEND_QUEUE_BYTES unsent when the next message arrives is cut
    /// off, so it can never slow the others or grow our memory: its queue is dropped and it gets
    /// close 1008. (Checked before queueing, like uWS's maxBackpressure, so one message larger
    /// than the budget still goes to a client that keeps up.)
    private func withinBudget() -> Bool {
        guard writeQueue.byteCount > server.configuration.sendQueueBytes else { return true }
        cutOff = true
        server.owner.cutOffClients.add(1, ordering: .relaxed)
        logger.warning("slow client cut off", metadata: ["peer": "\(peer)", "queued": "\(writeQueue.byteCount)"])
        writeQueue.removeAll()
        enqueue(WebSocketFrameEncoder.closeFrame(code: 1008, reason: "send queue limit exceeded"))
        closeSentAt = MonotonicClock.now()
        closeReceived = true  // do not wait for a client that is not reading
        closeAfterFlush = true
        flush()
        if !closed { close() }
        return false
    }

    func close(code: UInt16, reason: String) {
        guard !closed, closeSentAt == 0 else { return }
        enqueue(WebSocketFrameEncoder.closeFrame(code: code, reason: reason))
        closeSentAt = MonotonicClock.now()
        closeAfterFlush = true
    }

    func heartbeat(now: UInt64, silentLimit: UInt64) {
        guard closeSentAt == 0 else { return }
        if now &- lastHeard > silentLimit {
            logger.info("websocket client silent for two heartbeats, dropping", metadata: ["peer": "\(peer)"])
            close()
            return
        }
        enqueue(WebSocketFrameEncoder.encode(opcode: .ping, payload: []))
    }
}
