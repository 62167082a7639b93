import COpenSSL
public import SBEventLoop
#if canImport(Glibc)
import Glibc
#endif

/// One connection's TLS session: the thin handler that makes the OpenSSL calls, on the
/// connection's non-blocking socket (`SSL_set_fd`), and lets `TLSStateMachine` decide what
/// each result means. Confined to the connection's loop; `close()` is explicit.
///
/// Why the socket itself rather than memory BIOs: OpenSSL then reads and writes the socket
/// directly, so a connection holds no ciphertext buffers of its own (idle ones hold none at
/// all, with SSL_MODE_RELEASE_BUFFERS) and nothing needs a second bound; `want read` and
/// `want write` map one-to-one onto epoll interest. What memory BIOs would add — several
/// records in one system call — the write queue gets by gathering small frames into one
/// record (`WriteQueue.flush(staging:through:)`).
public final class TLSSession {
    private var ssl: OpaquePointer?
    public private(set) var machine: TLSStateMachine
    /// OpenSSL's reason for the last failure ("no shared cipher"), for the log line.
    public private(set) var failureDetail = ""
    /// The class of the last failure (`.closed`: the peer closed or reset the socket, or its
    /// socket closed without a close_notify: a close rather than a TLS problem).
    public private(set) var failureReason: TLSHandshakeFailure?

    /// The largest plaintext of one TLS record. Reads stop before the buffer has less room
    /// than this, so OpenSSL never keeps decrypted bytes the socket's readiness cannot announce.
    static let maxRecordPlaintext = 16384

    /// Nil when OpenSSL cannot allocate the session (the caller refuses the connection).
    public init?(context: TLSContext, fd: Int32, now: UInt64, handshakeTimeout: UInt64) {
        guard let ssl = SSL_new(context.pointer) else {
            OpenSSLErrorQueue.clear()
            return nil
        }
        guard SSL_set_fd(ssl, fd) == 1 else {  // a socket BIO that does not close the fd
            OpenSSLErrorQueue.clear()
            SSL_free(ssl)
            return nil
        }
        SSL_set_accept_state(ssl)
        self.ssl = ssl
        machine = TLSStateMachine(now: now, handshakeTimeout: handshakeTimeout)
    }

    /// A client session (`SSL_connect` side) on a connected non-blocking socket: the server's
    /// certificate must chain to the context's CAs and name `serverName` (a DNS name, checked
    /// with SSL_set1_host and sent as SNI, or an IP address, checked against the certificate's
    /// IP entries). Nil when OpenSSL cannot allocate the session or take the name.
    public init?(client context: TLSClientContext, fd: Int32, serverName: String, now: UInt64, handshakeTimeout: UInt64) {
        guard let ssl = SSL_new(context.pointer) else {
            OpenSSLErrorQueue.clear()
            return nil
        }
        let named: Bool
        if Self.isIPAddress(serverName) {
            named = COpenSSL_expect_ip(ssl, serverName) == 1
        } else {
            named = SSL_set1_host(ssl, serverName) == 1 && COpenSSL_set_sni(ssl, serverName) == 1
        }
        guard named, SSL_set_fd(ssl, fd) == 1 else {
            OpenSSLErrorQueue.clear()
            SSL_free(ssl)
            return nil
        }
        SSL_set_connect_state(ssl)
        self.ssl = ssl
        machine = TLSStateMachine(now: now, handshakeTimeout: handshakeTimeout, client: true)
    }

    static func isIPAddress(_ text: String) -> Bool {
        var v4 = in_addr()
        var v6 = in6_addr()
        return inet_pton(AF_INET, text, &v4) == 1 || inet_pton(AF_INET6, text, &v6) == 1
    }

    deinit {
        assert(ssl == nil, "TLSSession deinit without close()")
        if let ssl { SSL_free(ssl) }
    }

    public var isEstablished: Bool { machine.isEstablished }

    /// "TLSv1.3 TLS_AES_128_GCM_SHA256 http/1.1", for debug logs.
    public var negotiated: String {
        guard let ssl else { return "" }
        let version = String(cString: SSL_get_version(ssl))
        let cipher = SSL_get_current_cipher(ssl).map { String(cString: SSL_CIPHER_get_name($0)) } ?? "-"
        var buffer = [CChar](repeating: 0, count: 32)
        let length = Int(COpenSSL_alpn_selected(ssl, &buffer, 32))
        let alpn = String(decoding: buffer.prefix(length).map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return "\(version) \(cipher) \(alpn.isEmpty ? "-" : alpn)"
    }

    // MARK: Handshake

    /// Runs the handshake as far as the socket allows.
    public func stepHandshake() -> TLSStateMachine.HandshakeAction {
        guard let ssl else { return machine.handshakeStepped(.failed(.protocolError)) }
        OpenSSLErrorQueue.clear()
        let result = SSL_do_handshake(ssl)
        return machine.handshakeStepped(result == 1 ? .done : outcome(of: result, handshake: true))
    }

    /// A handshake past its deadline: `.fail(.timeout)`, else nil.
    public func timerFired(now: UInt64) -> TLSStateMachine.HandshakeAction? {
        machine.timerFired(now: now)
    }

    // MARK: Application data

    /// Decrypts what the socket has into `buffer`, whole records only.
    public func read(into buffer: UnsafeMutableRawBufferPointer) throws(IOError) -> IOResult {
        guard let ssl, let base = buffer.baseAddress else { throw IOError(call: "SSL_read", errno: EBADF) }
        var total = 0
        while buffer.count - total >= Self.maxRecordPlaintext {
            OpenSSLErrorQueue.clear()
            var n = 0
            let result = SSL_read_ex(ssl, base + total, buffer.count - total, &n)
            let verdict = machine.readStepped(result == 1 ? .done : outcome(of: result, handshake: false))
            switch verdict {
            case .data:
                total += n
            case .wait:
                return total > 0 ? .processed(total) : .wouldBlock
            case .endOfInput:
                // Bytes first; the end is reported by the next read (OpenSSL's end-of-input
                // state is sticky, and the socket stays at EOF).
                return total > 0 ? .processed(total) : .eof
            case .fail:
                throw IOError(call: "SSL_read (\(failureDetail))", errno: EPROTO)
            }
        }
        return .processed(total)
    }

    /// Encrypts and sends up to one record of `bytes`. After `.wouldBlock` the next call must
    /// start with the same bytes and be no shorter (OpenSSL's write retry rule; the write
    /// queue keeps them at its head).
    public func write(_ bytes: UnsafeRawBufferPointer) throws(IOError) -> IOResult {
        guard let ssl else { throw IOError(call: "SSL_write", errno: EBADF) }
        OpenSSLErrorQueue.clear()
        var n = 0
        let result = SSL_write_ex(ssl, bytes.baseAddress, bytes.count, &n)
        switch machine.writeStepped(result == 1 ? .done : outcome(of: result, handshake: false)) {
        case .wrote: return .processed(n)
        case .wait: return .wouldBlock
        case .fail: throw IOError(call: "SSL_write (\(failureDetail))", errno: EPIPE)
        }
    }

    /// Writes the queue through this session, gathering small chunks into one record.
    public func flush(_ queue: inout WriteQueue, staging: TLSWriteStaging) -> WriteQueue.FlushResult {
        queue.flush(staging: staging.buffer) { bytes throws(IOError) in try self.write(bytes) }
    }

    // MARK: Ending

    /// Our output ends: send close_notify (best effort, non-blocking) before the socket's
    /// write side is shut.
    public func shutdownOutput() {
        guard let ssl, machine.outputEnding() else { return }
        OpenSSLErrorQueue.clear()
        _ = SSL_shutdown(ssl)
        OpenSSLErrorQueue.clear()
    }

    /// Frees the session (the socket is the caller's). An open session first sends a
    /// best-effort close_notify, so the peer sees a clean end rather than a truncation.
    public func close() {
        guard let ssl else { return }
        if machine.closing() {
            OpenSSLErrorQueue.clear()
            _ = SSL_shutdown(ssl)
        }
        OpenSSLErrorQueue.clear()
        SSL_free(ssl)
        self.ssl = nil
    }

    // MARK: Classifying results

    private func outcome(of result: Int32, handshake: Bool) -> TLSStateMachine.Outcome {
        let code = SSL_get_error(ssl, result)
        switch code {
        case SSL_ERROR_WANT_READ:
            return .wantRead
        case SSL_ERROR_WANT_WRITE:
            return .wantWrite
        case SSL_ERROR_ZERO_RETURN:
            failureDetail = "closed by the peer"
            failureReason = .closed
            return .peerClosed
        case SSL_ERROR_SYSCALL:
            // EOF or a reset (or, rarely, another socket error): the peer is gone either way.
            let code = errno
            failureDetail = code == 0 ? "EOF" : String(cString: strerror(code))
            failureReason = .closed
            OpenSSLErrorQueue.clear()
            return .peerClosed
        case SSL_ERROR_SSL:
            let reason = OpenSSLErrorQueue.firstSSLReason()
            failureDetail = OpenSSLErrorQueue.drain()
            failureReason = Self.classify(sslReason: reason)
            if reason == COpenSSL_reason_certificate_verify_failed(), let ssl {
                // Why the chain or the name did not check out ("unable to get local issuer
                // certificate", "hostname mismatch").
                let result = SSL_get_verify_result(ssl)
                failureDetail = "certificate verify failed: \(String(cString: X509_verify_cert_error_string(result)))"
            }
            return .failed(Self.classify(sslReason: reason))
        default:
            failureDetail = "SSL_get_error \(code): \(OpenSSLErrorQueue.drain())"
            return .failed(.protocolError)
        }
    }

    /// OpenSSL's reason codes, grouped into the closed set of failure labels.
    static func classify(sslReason: Int32?) -> TLSHandshakeFailure {
        guard let reason = sslReason else { return .protocolError }
        switch reason {
        case SSL_R_HTTP_REQUEST, SSL_R_HTTPS_PROXY_REQUEST:
            return .plainHTTP
        case SSL_R_UNSUPPORTED_PROTOCOL, SSL_R_WRONG_VERSION_NUMBER, SSL_R_VERSION_TOO_LOW, SSL_R_UNKNOWN_PROTOCOL:
            return .version
        case SSL_R_NO_SHARED_CIPHER, SSL_R_NO_SHARED_GROUPS, SSL_R_NO_SUITABLE_SIGNATURE_ALGORITHM, SSL_R_NO_CIPHERS_AVAILABLE:
            return .cipher
        case SSL_R_NO_APPLICATION_PROTOCOL:
            return .alpn
        case SSL_R_UNEXPECTED_EOF_WHILE_READING:
            return .closed
        default:
            // Alerts received from the peer are reported as SSL_AD_REASON_OFFSET + alert.
            return reason >= SSL_AD_REASON_OFFSET && reason < SSL_AD_REASON_OFFSET + 256 ? .peerAlert : .protocolError
        }
    }
}
