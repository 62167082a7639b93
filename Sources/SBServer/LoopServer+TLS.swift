import SBCore
import SBEventLoop
import SBTLS
import Logging

extension LoopServer {
    /// A session on the loop's current context (the one a SIGHUP reload installed last), or
    /// nil when OpenSSL cannot make one (the connection is then refused, never served plain).
    func makeTLSSession(fd: Int32, context: TLSContext) -> TLSSession? {
        TLSSession(context: context, fd: fd, now: MonotonicClock.now(), handshakeTimeout: tlsHandshakeTimeout)
    }

    func tlsEstablished(_ connection: Connection, _ tls: TLSSession) {
        counters.tls.handshakeSucceeded()
        if logger.logLevel <= .debug {
            logger.debug("tls handshake done", metadata: ["peer": "\(connection.peer)", "tls": "\(tls.negotiated)"])
        }
    }

    /// Counted by reason; logged at most every 10 s (a scanner or a port probe can fail
    /// thousands of handshakes).
    func tlsHandshakeFailed(_ reason: TLSHandshakeFailure, peer: String, detail: String) {
        counters.tls.handshakeFailed(reason)
        let metadata: Logger.Metadata = ["peer": "\(peer)", "reason": "\(reason.rawValue)", "openssl": "\(detail)"]
        warn(.tlsHandshakeFailed, "tls handshake failed: \(reason.explanation)", metadata: metadata)
    }

    /// Installs the context new connections of this loop get; existing ones keep theirs.
    func replaceTLSContext(_ context: TLSContext) {
        tlsContext = context
    }
}

extension LoopServer {
    /// What a connection refused for want of room is told: the plain 503, except on a TLS
    /// port, where plain text before a handshake means nothing to the client (it is closed).
    var refusalResponse: [UInt8] {
        tlsContext == nil ? Self.busyResponse : []
    }
}
