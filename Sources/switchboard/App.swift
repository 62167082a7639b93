import Foundation
import Logging
import SBCore
import SBCrypto
import SBEventLoop
import SBHTTP
import SBHub
import SBRedis
import SBServer
import SBStore
import SBTLS

/// Wiring and lifecycle: build the loops, store, hub and server; run until a signal; drain.
final class App {
    let configuration: Configuration
    let tokens: TokenSettings?
    let tls: TLSContext?
    /// `rediss://`: what every Redis connection checks and presents; SIGHUP replaces its context.
    let redisTLS: RedisTLSSettings?
    let logger: Logger

    init(configuration: Configuration, tokens: TokenSettings?, tls: TLSContext?, redisTLS: TLSClientContext?) {
        self.configuration = configuration
        self.tokens = tokens
        self.tls = tls
        self.redisTLS = redisTLS.map { RedisTLSSettings(context: $0, serverName: configuration.redisTLSServerName) }
        let level = Logger.Level(rawValue: configuration.logLevel.lowercased()) ?? .info
        let json = configuration.logFormat.lowercased() == "json"
        LoggingSystem.bootstrap { label in
            SwitchboardLogHandler(label: label, level: level, format: json ? .json : .text)
        }
        logger = Logger(label: "switchboard")
    }

    func run() throws {
        // Block SIGTERM/SIGINT (and SIGHUP, which reloads the certificate with TLS on, and the
        // REDIS_TLS_* files with rediss://, and which systemd's ExecReload sends) before any
        // thread starts so they arrive only through the signalfd. Otherwise SIGHUP keeps its
        // default: a hung-up terminal ends the process.
        let notifier = ServiceNotifier(environment: ProcessInfo.processInfo.environment)
        let signalFD = try SignalSource.blockTerminationSignals(includingHangup: tls != nil || redisTLS != nil || notifier.socketPath != nil)
        let fileLimit = ProcessSignals.raiseOpenFileLimit()
        try SHA1.prepare()
        SecureRandom.prepare()
        let group = try EventLoopGroup(count: configuration.threads)
        let instanceId = configuration.instanceId ?? "sb-" + String(UInt32.random(in: 0...UInt32.max), radix: 16)
        let storeSettings = StoreSettings(sessionTTLSeconds: configuration.sessionTTL, queueTTLSeconds: configuration.queueTTL,
                                          historyLimit: configuration.historyLimit, idempotencyTTLSeconds: configuration.idempotencyTTL,
                                          maxQueueLength: configuration.maxQueueLength, presenceTTLSeconds: configuration.presenceTTL)
        var hubConfiguration = HubConfiguration(
            instanceId: instanceId, apiKey: configuration.apiKey, allowedOrigins: configuration.allowedOrigins,
            metricsPublic: configuration.metricsPublic, store: storeSettings, maxMessageBytes: configuration.maxMessageBytes,
            restRatePerSecond: configuration.rateLimit, restBurst: configuration.rateBurst,
            wsMessagesPerSecond: configuration.wsRateLimit,
            maxSubscriptionsPerConnection: configuration.maxSubscriptionsPerConnection, sendQueueBytes: configuration.sendQueueBytes,
            trustedProxies: configuration.trustedProxies, tokens: tokens)
        hubConfiguration.echoEndpoint = configuration.echoEndpoint
        hubConfiguration.authFailureRate = configuration.authFailureRate
        hubConfiguration.authFailureBurst = configuration.authFailureBurst

        let storage = try StorageWiring.make(configuration: configuration, settings: storeSettings, group: group,
                                             redisTLS: redisTLS, logger: logger)
        let hub = Hub(configuration: hubConfiguration, group: group, logger: logger, storeFactory: storage.storeFor,
                      busStatus: { [storage] in storage.busIsUp })
        storage.connect(hub)

        let serverConfiguration = ServerConfiguration(
            host: configuration.host, port: configuration.port,
            httpLimits: HTTPLimits(maxBodyBytes: configuration.maxBodyBytes),
            maxMessageBytes: configuration.maxMessageBytes, sendQueueBytes: configuration.sendQueueBytes,
            maxConnections: configuration.maxConnections, heartbeatSeconds: configuration.heartbeatSeconds,
            headerTimeoutSeconds: configuration.headerTimeout, idleTimeoutSeconds: configuration.idleTimeout,
            tls: tls, tlsHandshakeTimeoutSeconds: configuration.tlsHandshakeTimeout,
            hstsMaxAgeSeconds: configuration.tlsHSTSSeconds,
            webSocketCompression: configuration.wsCompression == "off"
                ? nil : ServerConfiguration.WebSocketCompression(minBytes: configuration.wsCompressionMinBytes))
        let server = Server(configuration: serverConfiguration, group: group, logger: logger, responderFactory: hub.responder(for:))
        hub.attach(server: server)
        let port = try server.bind()

        let shutdown = Shutdown(group: group, server: server, hub: hub, storage: storage, logger: logger,
                                timeoutSeconds: configuration.shutdownTimeout, notifier: notifier)
        let loop0 = group.loops[0]
        let logger = self.logger
        let reloader = tls.map { TLSReloader(server: server, current: $0, logger: logger) }
        let redisReloader = redisTLS.map { RedisTLSReloader(settings: $0, logger: logger) }
        loop0.execute {
            do {
                let source = try SignalSource(fd: signalFD, loop: loop0) { signal in
                    if signal == SignalSource.hangup {
                        Self.report(notifier.reloading(), logger)
                        reloader?.reload()
                        redisReloader?.reload()
                        if reloader == nil && redisReloader == nil {
                            logger.info("SIGHUP: nothing to reload (no TLS_CERT_FILE, no rediss://)")
                        }
                        Self.report(notifier.ready(status: "reloaded"), logger)
                    } else {
                        shutdown.signalReceived(signal)
                    }
                }
                shutdown.retain(source)
            } catch {
                logger.critical("cannot watch signals: \(error)")
            }
        }
        group.start { loop, error in
            Logger(label: "switchboard").critical("event loop \(loop.index) failed: \(error)")
        }
        storage.start()
        server.start()
        if notifier.socketPath != nil {
            let status = "listening on \(configuration.host):\(port), storage=\(storage.kind)"
            loop0.execute { Self.notifyWhenReady(notifier, status: status, storage: storage, loop: loop0, logger: logger) }
        }
        logger.info("switchboard \(Switchboard.version) listening on \(configuration.host):\(port) storage=\(storage.kind) threads=\(group.loops.count) instance=\(instanceId) max_open_files=\(fileLimit) tokens=\(tokens.map(\.algorithmNames) ?? "off") tls=\(tls.map(TLSReloader.describe) ?? "off") redis_tls=\(redisTLS.map { $0.context.summary } ?? "off")")
        if configuration.apiKey == nil && tokens == nil && !Self.isLoopback(configuration.host) {
            logger.warning("authentication is off (neither API_KEY nor TOKEN_SECRET/TOKEN_PUBLIC_KEY is set) and the listener is on \(configuration.host), not loopback: anyone who can reach port \(port) can read and write every session")
        }
        if configuration.echoEndpoint {
            logger.notice("ECHO_ENDPOINT is on: /echo serves the WebSocket echo for conformance runs")
        }
        if let days = tls?.daysUntilExpiry, days < 14 {
            logger.warning("the TLS certificate \(days < 0 ? "expired \(-days) days ago" : "expires in \(days) days"): replace \(configuration.tlsCertFile ?? "") and send SIGHUP")
        }
        group.waitUntilStopped()
        logger.info("stopped")
        // A graceful stop exits 0, also when SHUTDOWN_TIMEOUT cut it short (that is logged);
        // only a second signal (exit 1) or a failed start say otherwise.
        Self.exitNow(0)
    }

    /// READY=1 once /ready answers 200 on every loop: at once for memory; with Redis once each
    /// loop's store is connected and the event subscription is in place (checked every 100 ms).
    static func notifyWhenReady(_ notifier: ServiceNotifier, status: String, storage: StorageWiring, loop: EventLoop, logger: Logger) {
        if storage.isReadyOnEveryLoop {
            report(notifier.ready(status: status), logger)
            return
        }
        loop.schedule(after: .milliseconds(100)) { notifyWhenReady(notifier, status: status, storage: storage, loop: loop, logger: logger) }
    }

    /// A failed notification is logged, never fatal: the service manager times the start out.
    static func report(_ error: IOError?, _ logger: Logger) {
        if let error { logger.warning("cannot notify the service manager (NOTIFY_SOCKET): \(error)") }
    }

    /// 127.0.0.0/8 and ::1 (HOST is numeric): only this machine can connect.
    static func isLoopback(_ host: String) -> Bool {
        host == "::1" || host.hasPrefix("127.") || host.hasPrefix("::ffff:127.")
    }

    /// Ends the process without running atexit handlers. The loop threads have left their
    /// loops but may still be unwinding (releasing closures, OpenSSL's per-thread state), and
    /// `exit` would run OpenSSL's global cleanup and C++ static destructors concurrently with
    /// them: a "double free or corruption" abort seen once after "stopped". Storage is closed
    /// and every connection answered by now; the kernel reclaims the rest.
    static func exitNow(_ code: Int32) -> Never {
        fflush(nil)
        _exit(code)
    }
}
