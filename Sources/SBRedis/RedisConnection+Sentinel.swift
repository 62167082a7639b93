import Logging
import SBCore
import SBEventLoop

/// With Sentinel: finding out that the master moved while a connection to the old one is still
/// open (a failover does not always close it), and reconnecting to the new one.
extension RedisConnection {
    /// A hint (`+switch-master`) that the master moved: a ready connection checks at once; one
    /// waiting out its backoff looks the master up now instead. Loop thread.
    public func masterMayHaveMoved() {
        if machine.state == .waiting {
            apply(machine.reconnectDue(now: clock.nowNanoseconds()))
        } else {
            checkMaster(force: true)
        }
    }

    /// With Sentinel, a ready connection asks the sentinels (off the loop) where the master is;
    /// if it moved, the connection is dropped and reconnects there. Runs on a timer (a failover
    /// does not always close our connections: Sentinel leaves Pub/Sub clients alone) and, with
    /// `force`, on a `+switch-master` hint. The timed checks of all connections of a master
    /// share one lookup per interval (`SentinelSettings` keeps the last answer). Loop thread.
    public func checkMaster(force: Bool = false) {
        guard case .sentinel(let settings) = endpoint, machine.isReady, !masterCheckRunning, let connectedTo = address else { return }
        if !force {
            if let recent = settings.recentMaster(now: clock.nowNanoseconds(), maxAge: Self.nanoseconds(masterCheckInterval)) {
                return masterAnswered(recent, connectedTo: connectedTo)
            }
            guard settings.beginCheck() else { return }  // another connection is asking; its answer is shared
        }
        masterCheckRunning = true
        resolver.resolve(endpoint, on: loop) { [weak self] result in
            if !force { settings.endCheck() }
            guard let self else { return }
            masterCheckRunning = false
            guard case .success(let master) = result else { return }
            settings.remember(master, now: clock.nowNanoseconds())
            masterAnswered(master, connectedTo: connectedTo)
        }
    }

    private func masterAnswered(_ master: RedisAddress, connectedTo: RedisAddress) {
        guard master != connectedTo, address == connectedTo, machine.isReady else { return }
        logger.warning("redis master moved: reconnecting", metadata: ["from": "\(connectedTo)", "to": "\(master)", "redis": "\(endpointName)"])
        drop(.disconnected)
    }
}
