public import SBHTTP
public import SBTLS

/// Socket-level limits and timers. Product rules (auth, routes) live above, in SBHub.
public struct ServerConfiguration: Sendable {
    public var host: String
    public var port: Int
    public var httpLimits: HTTPLimits
    /// Applies to a compressed message's inflated size.
    public var maxMessageBytes: Int
    /// WS_COMPRESSION: permessage-deflate for clients that offer it; nil = off (never agreed).
    public var webSocketCompression: WebSocketCompression?
    /// Unsent bytes a client may have queued before it is cut off.
    public var sendQueueBytes: Int
    public var maxConnections: Int
    public var heartbeatSeconds: Int
    /// A request head must arrive within this (slowloris defence): else 408 and close.
    public var headerTimeoutSeconds: Int
    /// Keep-alive connections with no request in flight are closed after this.
    public var idleTimeoutSeconds: Int
    /// A WebSocket close handshake (waiting for the peer's close, or for our last bytes to be
    /// taken) that takes longer than this ends with the socket closed.
    public var closeHandshakeTimeoutSeconds: Int
    /// Set: the listener speaks TLS (HTTPS and WSS on the same port). Replaced at run time by
    /// `Server.replaceTLSContext` (SIGHUP).
    public var tls: TLSContext?
    /// A TLS handshake not done within this is closed (a stalled client holds no slot for long).
    public var tlsHandshakeTimeoutSeconds: Int
    /// TLS_HSTS_SECONDS: `Strict-Transport-Security: max-age=…` on every HTTP response over
    /// native TLS; 0 = not sent.
    public var hstsMaxAgeSeconds: Int
    /// Set when `maxConnections` was lowered to fit the open-file limit: the refusal log then
    /// names the file limit, not MAX_CONNECTIONS, as what refuses connections.
    public internal(set) var openFileCap: OpenFileCap?

    public struct WebSocketCompression: Sendable, Equatable {
        /// WS_COMPRESSION_MIN_BYTES: shorter messages go plain (a few hundred bytes of JSON
        /// shrink by little, and every compressed frame costs zlib time).
        public var minBytes: Int

        public init(minBytes: Int = 256) {
            self.minBytes = minBytes
        }
    }

    public struct OpenFileCap: Sendable, Equatable {
        public let openFileLimit: Int
        public let configuredMaxConnections: Int
    }

    public init(
        host: String = "0.0.0.0", port: Int = 3001, httpLimits: HTTPLimits = .init(),
        maxMessageBytes: Int = 1 << 20, sendQueueBytes: Int = 8 << 20, maxConnections: Int = 100_000,
        heartbeatSeconds: Int = 30, headerTimeoutSeconds: Int = 10, idleTimeoutSeconds: Int = 120,
        closeHandshakeTimeoutSeconds: Int = 3, tls: TLSContext? = nil, tlsHandshakeTimeoutSeconds: Int = 10,
        hstsMaxAgeSeconds: Int = 0, webSocketCompression: WebSocketCompression? = WebSocketCompression()
    ) {
        self.host = host
        self.port = port
        self.httpLimits = httpLimits
        self.maxMessageBytes = maxMessageBytes
        self.sendQueueBytes = sendQueueBytes
        self.maxConnections = maxConnections
        self.heartbeatSeconds = heartbeatSeconds
        self.headerTimeoutSeconds = headerTimeoutSeconds
        self.idleTimeoutSeconds = idleTimeoutSeconds
        self.closeHandshakeTimeoutSeconds = closeHandshakeTimeoutSeconds
        self.tls = tls
        self.tlsHandshakeTimeoutSeconds = tlsHandshakeTimeoutSeconds
        self.hstsMaxAgeSeconds = hstsMaxAgeSeconds
        self.webSocketCompression = webSocketCompression
    }
}
