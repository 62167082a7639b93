import SBCore
import Synchronization
import SBEventLoop
import SBWebSocket
import Logging

extension Connection: WebSocketConnection {
    var queuedBytes: Int { writeQueue.byteCount }

    func processWebSocket() {
        while !closed, case .webSocket(let handler, var reader) = proto {
            proto = .done
            let event = reader.next(inflate: { server.inflater.inflate(&$0, limit: $1) })
            proto = .webSocket(handler, reader)
            guard let event, ws != nil else { return }
            switch event {
            case .text(let payload):
                if ws!.messageReceived() == [.deliver] { handler.received(text: payload, from: self) }
            case .binary(let payload):
                if ws!.messageReceived() == [.deliver] { handler.received(binary: payload, from: self) }
            case .ping(let payload):
                if ws!.pingReceived() == [.sendPong] { enqueue(WebSocketFrameEncoder.encode(opcode: .pong, payload: payload)) }
            case .pong:
                performWS(ws!.pongReceived(now: MonotonicClock.now()))
            case .close(let code, _):
                performWS(ws!.closeReceived(code: code, now: MonotonicClock.now()))
                return
            case .failure(let code, let reason):
                logger.debug("websocket protocol error", metadata: ["peer": "\(peer)", "code": "\(code)", "reason": "\(reason)"])
                performWS(ws!.protocolError(code: code, reason: reason, now: MonotonicClock.now()))
                return
            }
        }
    }

    /// Does what the WebSocket state machine decided. `.deliver`, `.send` and `.sendPong` are
    /// performed by the caller, which holds the message or frame.
    func performWS(_ actions: [WebSocketConnectionStateMachine.Action]) {
        for action in actions {
            switch action {
            case .deliver, .send, .sendPong:
                break
            case .sendPing:
                enqueue(WebSocketFrameEncoder.encode(opcode: .ping, payload: []))
            case .sendClose(let code, let reason):
                enqueue(code.map { WebSocketFrameEncoder.closeFrame(code: $0, reason: reason) }
                        ?? WebSocketFrameEncoder.encode(opcode: .close, payload: []))
            case .discardQueue:
                writeQueue.dropUnstarted()
            case .countCutOff:
                server.counters.cutOffClients.add(1, ordering: .relaxed)
                server.warn(.slowClientCutOff, "slow client cut off", metadata: ["peer": "\(peer)", "queued": "\(writeQueue.byteCount)"])
            case .notifyDrained:
                scheduleDrainNotification()
            case .pauseReading:
                wantRead = false
            case .flush:
                if closed { break }
                // Written now, not at the end of the turn: a cut-off client is closed right after.
                _ = writeQueued()
                server.scheduleFlush(self)
            case .close:
                close()
            case .abort:
                close(abortive: true)
            }
        }
    }

    /// `sendQueueDrained` runs on the next loop turn, never inside the write that drained the
    /// queue, so the handler may send again without re-entering the flush. Serves WebSockets and
    /// streaming responses alike: whichever handler the connection has by then is told.
    func scheduleDrainNotification() {
        guard !drainNotifyPending else { return }
        drainNotifyPending = true
        loop.schedule(after: .zero) { [weak self] in
            guard let self else { return }
            self.drainNotifyPending = false
            guard !self.closed else { return }
            switch self.proto {
            case .webSocket(let handler, _): handler.sendQueueDrained(self)
            case .stream(_, let handler): handler.sendQueueDrained(self)
            case .http, .done: break
            }
        }
    }

    @discardableResult
    func sendText(_ payload: [UInt8]) -> SendStatus {
        guard !closed, ws != nil else { return .dropped }
        guard ws!.mayQueueLive(queued: writeQueue.byteCount) else {
            performWS(ws!.liveSend(queued: writeQueue.byteCount, now: MonotonicClock.now()))
            return .dropped
        }
        enqueue(frame(opcode: .text, payload: payload))
        return .queued
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
        deflateWindowBits != 0 && payloadCount >= server.compressionMinBytes
            && payloadCount <= PerMessageDeflate.maxCompressiblePayload(serverMaxWindowBits: deflateWindowBits)
    }

    func frame(for broadcast: BroadcastFrame) -> SharedFrame {
        mayCompress(payloadCount: broadcast.payloadCount) ? broadcast.deflatedFrame(using: server.deflater) : broadcast.plain
    }

    @discardableResult
    func sendFrame(_ frame: SharedFrame) -> SendStatus {
        guard !closed, ws != nil else { return .dropped }
        // Once per delivery: the steady state allocates nothing; only a cut-off asks the
        // machine for its actions.
        guard ws!.mayQueueLive(queued: writeQueue.byteCount) else {
            performWS(ws!.liveSend(queued: writeQueue.byteCount, now: MonotonicClock.now()))
            return .dropped
        }
        enqueue(frame)
        return .queued
    }

    @discardableResult
    func sendReplayText(_ payload: [UInt8]) -> SendStatus {
        guard !closed, ws?.isOpen == true else { return .dropped }
        enqueue(frame(opcode: .text, payload: payload))
        return .queued
    }

    /// Also `ResponseStream`'s: a stream's drain watch is the HTTP machine's.
    func notifyWhenDrained(below lowWater: Int) {
        guard !closed else { return }
        guard ws != nil else {
            if let http { performHTTP(http.machine.notifyWhenDrained(below: lowWater, queued: writeQueue.byteCount)) }
            return
        }
        performWS(ws!.notifyWhenDrained(below: lowWater, queued: writeQueue.byteCount))
    }

    func sendBinary(_ payload: [UInt8]) {
        guard !closed, ws != nil else { return }
        guard ws!.mayQueueLive(queued: writeQueue.byteCount) else {
            performWS(ws!.liveSend(queued: writeQueue.byteCount, now: MonotonicClock.now()))
            return
        }
        enqueue(frame(opcode: .binary, payload: payload))
    }

    func close(code: UInt16, reason: String) {
        guard !closed, ws != nil else { return }
        performWS(ws!.closeRequested(code: code, reason: reason, now: MonotonicClock.now()))
    }

    func heartbeat(now: UInt64) {
        guard !closed, ws != nil else { return }
        let actions = ws!.heartbeat(now: now)
        if actions == [.close] {
            logger.info("websocket client silent for two heartbeats, dropping", metadata: ["peer": "\(peer)"])
        }
        performWS(actions)
    }
}
