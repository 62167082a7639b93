import SBCore
import Synchronization
import SBEventLoop
import SBHTTP
import Logging

/// A connection's streaming response (Server-Sent Events): the HTTP machine, taken over from
/// the `HTTPDriver` when the stream's head goes out (its parser, and anything pipelined behind
/// the request, are dropped), and the stream's handler. Held inline in `Connection.driver`.
/// The decisions (heartbeats, cut-off, drain notices, the end) are the machine's.
struct StreamDriver {
    var machine: HTTPConnectionStateMachine
    let handler: any StreamHandler
}

extension Connection: ResponseStream {
    /// Runs `change` on the stream driver in place and returns its result (nil without one).
    @inline(__always)
    func updateStream<Result>(_ change: (inout StreamDriver) -> Result) -> Result? {
        guard case .stream(var stream) = driver else { return nil }
        driver = .closed
        let result = change(&stream)
        driver = .stream(stream)
        return result
    }

    func startStream(_ head: HTTPResponse, handler: any StreamHandler) {
        guard !closed, case .http(let http) = driver else { return }
        let action = http.machine.streamReady(now: loop.now)
        guard case .writeStreamHead(let open) = action else { return performHTTP(action) }
        var bytes: [UInt8] = []
        HTTPResponseEncoder.encodeStreamHead(head, into: &bytes)
        enqueue(bytes)
        if open {
            http.isCurrent = false
            driver = .stream(StreamDriver(machine: http.machine, handler: handler))
            server.counters.openStreams.add(1, ordering: .relaxed)
            handler.opened(self)
        }
        // Not open: the HTTP machine closes the connection once the head is written.
        syncInterest()
    }

    @discardableResult
    func sendLive(_ bytes: SharedBytes) -> SendStatus {
        guard admitLiveStream() else { return .dropped }
        enqueue(bytes)
        return .queued
    }

    @discardableResult
    func sendLive(_ bytes: [UInt8]) -> SendStatus {
        guard admitLiveStream() else { return .dropped }
        enqueue(bytes)
        return .queued
    }

    /// Whether live bytes may be queued; over the limit, the client is cut off here.
    private func admitLiveStream() -> Bool {
        guard case .stream(let stream) = driver else { return false }
        let action = stream.machine.liveSend(queued: writeQueue.byteCount)
        if action == .cutOff {
            updateStream { $0.machine.cutOff() }
            performHTTP(.cutOff)
        }
        return action == .send
    }

    @discardableResult
    func sendPaced(_ bytes: [UInt8]) -> SendStatus {
        guard case .stream(let stream) = driver, stream.machine.pacedSend() == .send else { return .dropped }
        enqueue(bytes)
        return .queued
    }

    func end() {
        performHTTP(updateStream { $0.machine.endStream(now: loop.now) })
        syncInterest()
    }
}
