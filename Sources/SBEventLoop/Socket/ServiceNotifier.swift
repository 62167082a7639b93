import CSBLinux
import SBCore

/// Tells the service manager (systemd with `Type=notify`) how the service stands, as
/// `sd_notify(3)` does, without libsystemd: one datagram per state on the AF_UNIX socket named
/// by `$NOTIFY_SOCKET`. Without that variable (not started by systemd) every call does nothing.
public struct ServiceNotifier: Sendable {
    /// `$NOTIFY_SOCKET`: a path, or `@name` for the abstract namespace; nil = not asked.
    public let socketPath: String?

    public init(environment: [String: String]) {
        socketPath = environment["NOTIFY_SOCKET"].flatMap { $0.isEmpty ? nil : $0 }
    }

    /// Serving: listeners open and (with Redis) the store and its subscription ready.
    public func ready(status: String) -> IOError? { send("READY=1\nSTATUS=\(status)") }

    /// A graceful drain began.
    public func stopping() -> IOError? { send("STOPPING=1") }

    /// A SIGHUP reload began; `ready` follows when it is done. systemd (253+) wants the
    /// CLOCK_MONOTONIC time of the request with it.
    public func reloading() -> IOError? {
        send("RELOADING=1\nMONOTONIC_USEC=\(MonotonicClock.now() / 1000)")
    }

    /// Sends `state` (newline-separated `KEY=value` lines). nil when sent or not asked for.
    public func send(_ state: String) -> IOError? {
        guard let socketPath else { return nil }
        let bytes = Array(state.utf8)
        let result = bytes.withUnsafeBufferPointer { CSBLinux_notify(socketPath, $0.baseAddress, $0.count) }
        return result < 0 ? IOError(call: "sendto NOTIFY_SOCKET", errno: -result) : nil
    }
}
