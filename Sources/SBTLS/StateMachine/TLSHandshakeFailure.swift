/// Why a TLS handshake did not complete. A closed set: these are the `result` labels of
/// `switchboard_tls_handshakes`, so no client can grow `/metrics`.
public enum TLSHandshakeFailure: String, CaseIterable, Sendable {
    /// Still not done at TLS_HANDSHAKE_TIMEOUT (a stalled or very slow client).
    case timeout
    /// The client went away mid-handshake (EOF or reset): scanners, aborted page loads.
    case closed
    /// The client offered no protocol version we speak (TLS 1.2 and 1.3 only).
    case version
    /// No cipher suite, group or signature algorithm in common.
    case cipher
    /// ALPN offered without `http/1.1`.
    case alpn
    /// Plain HTTP sent to the TLS port (`http://` instead of `https://`).
    case plainHTTP = "plain_http"
    /// The client aborted with an alert, most often because it does not trust our certificate.
    case peerAlert = "peer_alert"
    /// Anything else malformed.
    case protocolError = "protocol"

    /// Operator-facing explanation for the log line.
    public var explanation: String {
        switch self {
        case .timeout: "handshake not completed in time"
        case .closed: "client closed the connection during the handshake"
        case .version: "client offers no TLS 1.2 or 1.3"
        case .cipher: "no cipher suite in common"
        case .alpn: "client's ALPN list lacks http/1.1"
        case .plainHTTP: "plain HTTP sent to the TLS port (use https:// / wss://)"
        case .peerAlert: "client aborted the handshake (does it trust the certificate?)"
        case .protocolError: "malformed handshake"
        }
    }
}
