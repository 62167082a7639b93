import SBCore
import Synchronization
import SBEventLoop
import SBHTTP
import Logging

/// A streaming response on an HTTP connection (Server-Sent Events). The decisions — when it
/// opens, heartbeats, cut-off, drain notices, the end — are `HTTPConnectionStateMachine`'s.
extension Connection: ResponseStream {
    func startStream(_ head: HTTPResponse, handler: any StreamHandler) {
        guard !closed, let http else { return }
        for action in http.machine.streamReady(now: MonotonicClock.now()) {
            guard !closed else { return }
            if case .writeStreamHead(let open) = action {
                var bytes: [UInt8] = []
                HTTPResponseEncoder.encodeStreamHead(head, into: &bytes)
                enqueue(bytes)
                // The parser and anything pipelined behind this request are dropped.
                proto = open ? .stream(http, handler) : .done
                if open {
                    server.counters.openStreams.add(1, ordering: .relaxed)
                    handler.opened(self)
                }
            } else {
                performHTTP([action])
            }
        }
        syncInterest()
    }

    /// The stream's actions from the HTTP machine (the others are `performHTTP`'s).
    func performStream(_ action: HTTPConnectionStateMachine.Action) {
        switch action {
        case .sendHeartbeat:
            if case .stream(_, let handler) = proto { handler.heartbeat(self) }
        case .notifyDrained:
            scheduleDrainNotification()
        case .discardQueue:
            writeQueue.removeAll()
        case .countCutOff:
            server.counters.cutOffClients.add(1, ordering: .relaxed)
            server.warn(.slowClientCutOff, "slow client cut off", metadata: ["peer": "\(peer)", "queued": "\(writeQueue.byteCount)", "stream": "sse"])
        default:
            break
        }
    }

    func streamClosed(_ handler: any StreamHandler) {
        server.counters.openStreams.subtract(1, ordering: .relaxed)
        proto = .done
        handler.closed(self)
    }

    @discardableResult
    func sendLive(_ bytes: SharedBytes) -> SendStatus {
        guard admitLive() else { return .dropped }
        enqueue(bytes)
        return .queued
    }

    @discardableResult
    func sendLive(_ bytes: [UInt8]) -> SendStatus {
        guard admitLive() else { return .dropped }
        enqueue(bytes)
        return .queued
    }

    /// Whether live bytes may be queued; over the limit, the machine's cut-off happens here.
    private func admitLive() -> Bool {
        guard !closed, let http else { return false }
        guard http.machine.mayQueueLive(queued: writeQueue.byteCount) else {
            performHTTP(http.machine.liveSendRefused(queued: writeQueue.byteCount))
            return false
        }
        return true
    }

    @discardableResult
    func sendPaced(_ bytes: [UInt8]) -> SendStatus {
        guard !closed, let http, http.machine.isStreaming else { return .dropped }
        enqueue(bytes)
        return .queued
    }

    func end() {
        guard !closed, let http else { return }
        performHTTP(http.machine.endStream(now: MonotonicClock.now()))
        syncInterest()
    }
}
