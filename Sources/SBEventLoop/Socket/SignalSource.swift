import CSBLinux

/// SIGTERM/SIGINT (and SIGHUP, when asked for) delivered as readable bytes on a signalfd, so
/// shutdown or a reload starts on a loop thread like any other event instead of inside an
/// async-signal handler.
public final class SignalSource: IOHandler {
    private let fd: Int32
    private var registration: Registration?
    private let onSignal: (Int32) -> Void

    public static let hangup = CSBLinux_SIGHUP

    /// Must be called before any other thread starts, so every thread inherits the blocked mask.
    /// `includingHangup`: SIGHUP arrives on the fd too (a reload) instead of ending the process.
    public static func blockTerminationSignals(includingHangup: Bool = false) throws(IOError) -> Int32 {
        let fd = CSBLinux_signalfd_term_int(includingHangup ? 1 : 0)
        guard fd >= 0 else { throw IOError(call: "signalfd", errno: CSBLinux_errno()) }
        return fd
    }

    public init(fd: Int32, loop: EventLoop, onSignal: @escaping (Int32) -> Void) throws(IOError) {
        self.fd = fd
        self.onSignal = onSignal
        registration = try loop.register(fd: fd, interest: .readable, handler: self)
    }

    public func handleIO(_ events: IOEvents) {
        while true {
            let signal = CSBLinux_signalfd_read(fd)
            guard signal > 0 else { return }
            onSignal(signal)
        }
    }
}

public enum ProcessSignals {
    /// Raises the open-file soft limit to the hard limit; returns the new limit.
    public static func raiseOpenFileLimit() -> Int {
        Int(CSBLinux_raise_nofile())
    }

    /// The current open-file soft limit (what MAX_CONNECTIONS must fit in), or -1.
    public static func openFileLimit() -> Int {
        Int(CSBLinux_nofile_limit())
    }
}
