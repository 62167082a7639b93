import SBEventLoop
public import SBTLS

extension Server {
    /// Whether the listener speaks TLS.
    public var isTLS: Bool { configuration.tls != nil }

    /// SIGHUP: new connections get `context` from now on; open ones keep the context they
    /// started with (each session holds a reference to it), so nothing is dropped.
    public func replaceTLSContext(_ context: TLSContext) {
        for server in loopServers {
            server.loop.execute { server.replaceTLSContext(context) }
        }
        counters.tls.reloaded(ok: true)
    }

    /// A reload that failed (the previous context stays), for `/metrics`.
    public func tlsReloadFailed() {
        counters.tls.reloaded(ok: false)
    }

    /// Handshakes since start by result: `ok` and each `TLSHandshakeFailure` (a closed set).
    public var tlsHandshakeCounts: [(result: String, count: Int)] { counters.tls.handshakeCounts }

    public var tlsReloadCounts: (ok: Int, failed: Int) { counters.tls.reloadCounts }
}
