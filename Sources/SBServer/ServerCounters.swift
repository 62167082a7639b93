import Synchronization

/// The process-wide counts every loop updates (MAX_CONNECTIONS, `/health`, `/metrics`). `Server`
/// and each `LoopServer` hold the same instance, so a loop needs no reference back to its server.
final class ServerCounters: Sendable {
    let openConnections = Atomic<Int>(0)
    let openWebSockets = Atomic<Int>(0)
    let openStreams = Atomic<Int>(0)
    let cutOffClients = Atomic<Int>(0)
    let tls = TLSStats()
}
