import SBCore
import SBEventLoop
import SBTLS
import Logging

/// Where TLS sits in a connection: at its three I/O points (read into the loop's buffer, write
/// the queue, shut the output) and in front of readiness until the handshake is done. Without
/// TLS each is the plain socket call. The decisions are `TLSStateMachine`'s; the OpenSSL
/// calls are `TLSSession`'s.
extension Connection {
    func readInput(into buffer: UnsafeMutableRawBufferPointer) throws(IOError) -> IOResult {
        if let tls { return try tls.read(into: buffer) }
        return try SocketIO.read(fd: fd, into: buffer)
    }

    func writeQueued() -> WriteQueue.FlushResult {
        if let tls { return tls.flush(&writeQueue, staging: server.tlsStaging) }
        return writeQueue.flush(fd: fd)
    }

    /// close_notify first, so the peer reads a clean end of the stream, then the socket's FIN.
    func shutdownOutput() {
        tls?.shutdownOutput()
        SocketIO.shutdownWrite(fd: fd)
    }

    /// The readiness the connection should act on, or nil while the TLS handshake is still
    /// going (or just failed, and the connection is closed).
    func tlsReadiness(_ events: IOEvents) -> IOEvents? {
        guard let tls else { return events }
        if tls.isEstablished { return tls.machine.readiness(events) }
        switch tls.stepHandshake() {
        case .wait:
            return nil
        case .established:
            server.tlsEstablished(self, tls)
            // The client's first request may be right behind its Finished message.
            return events.union(.readable)
        case .fail(let reason):
            tlsFailed(reason, tls)
            return nil
        }
    }

    /// A handshake past TLS_HANDSHAKE_TIMEOUT is counted and closed; nothing else is touched.
    func tlsTimerFired(now: UInt64) {
        guard !closed, let tls, case .fail(let reason)? = tls.timerFired(now: now) else { return }
        tlsFailed(reason, tls)
    }

    private func tlsFailed(_ reason: TLSHandshakeFailure, _ tls: TLSSession) {
        server.tlsHandshakeFailed(reason, peer: peer, detail: tls.failureDetail)
        if reason == .plainHTTP { answerPlainHTTP() }
        close()
    }

    /// A client that spoke plain HTTP to the TLS port gets one fixed answer saying so (as
    /// nginx does), not a reset it cannot explain; its request is never parsed. Best effort
    /// and bounded: what it sent is drained first (a close with unread input sends RST, which
    /// would discard the answer), then one non-blocking write and a FIN.
    private func answerPlainHTTP() {
        var scratch = [UInt8](repeating: 0, count: 4096)
        for _ in 0..<4 {
            let result = scratch.withUnsafeMutableBytes { buffer in try? SocketIO.read(fd: fd, into: buffer) }
            guard case .processed(let count)? = result, count > 0 else { break }
        }
        Self.plainHTTPAnswer.withUnsafeBytes { bytes in _ = try? SocketIO.write(fd: fd, bytes) }
        SocketIO.shutdownWrite(fd: fd)
    }

    static let plainHTTPAnswer = errorResponse(status: 400, message: "this port speaks TLS: use https:// (or wss://)")
}
