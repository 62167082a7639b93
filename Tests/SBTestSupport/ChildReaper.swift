#if canImport(Glibc)
import Glibc
#endif
import SBCore

/// The PIDs of the servers tests started (redis-server, switchboard, nginx) that have not been
/// stopped yet. When the test process exits they are killed, by PID, so a test that fails
/// half-way, or an instance XCTest keeps alive until the end, never leaves a server behind.
public enum ChildReaper {
    static let running = Locked<Set<Int32>>([])
    static let exitHook: Void = {
        atexit {
            for pid in ChildReaper.running.withLock({ $0 }) { kill(pid, SIGKILL) }
        }
    }()

    public static func track(_ pid: Int32) {
        exitHook
        running.withLock { _ = $0.insert(pid) }
    }

    public static func forget(_ pid: Int32) {
        running.withLock { _ = $0.remove(pid) }
    }
}
