import Foundation
import Logging
import SBCore
import SBEventLoop
import SBHub
import SBServer

/// Graceful shutdown as a sequence of steps, run on loop 0:
/// ready → 503, listeners closed, in-flight requests finish, WebSockets get 1001, storage
/// closed, loops stopped — or, past SHUTDOWN_TIMEOUT, stop anyway. A second signal exits now.
final class Shutdown: @unchecked Sendable {
    // Confined to loop 0 (signals and the polling timer both run there).
    private let group: EventLoopGroup
    private let server: Server
    private let hub: Hub
    private let storage: StorageWiring
    private let logger: Logger
    private let timeoutSeconds: Int
    private let notifier: ServiceNotifier
    private var started: UInt64 = 0
    private var retained: [AnyObject] = []

    init(group: EventLoopGroup, server: Server, hub: Hub, storage: StorageWiring, logger: Logger, timeoutSeconds: Int,
         notifier: ServiceNotifier) {
        self.notifier = notifier
        self.group = group
        self.server = server
        self.hub = hub
        self.storage = storage
        self.logger = logger
        self.timeoutSeconds = timeoutSeconds
    }

    func retain(_ object: AnyObject) { retained.append(object) }

    func signalReceived(_ signal: Int32) {
        if started != 0 {
            logger.warning("second signal \(signal): exiting now")
            App.exitNow(1)
        }
        started = MonotonicClock.now()
        logger.info("signal \(signal): draining (ready=503, listeners closing)")
        App.report(notifier.stopping(), logger)
        hub.beginDraining()
        server.closeListeners()
        logger.info("closing connections: WebSocket clients get 1001, in-flight requests finish")
        server.closeAllConnections(code: 1001, reason: "server shutting down")
        poll()
    }

    private func poll() {
        let elapsed = Double(MonotonicClock.now() - started) / 1e9
        let open = server.connectionCount
        if open == 0 || elapsed >= Double(timeoutSeconds) {
            if open > 0 {
                logger.warning("shutdown timeout after \(timeoutSeconds)s with \(open) connections open: stopping anyway")
            } else {
                logger.info("all connections closed after \(String(format: "%.3f", elapsed))s")
            }
            storage.close()
            logger.info("storage closed; stopping event loops")
            group.stopAll()
            return
        }
        group.loops[0].schedule(after: .milliseconds(20)) { [self] in poll() }
    }
}
