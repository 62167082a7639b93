#if canImport(Glibc)
import Glibc
#endif

/// Calendar time, which may jump (NTP, an operator): for timestamps, token expiry and TTLs,
/// never for measuring intervals (that is `MonotonicClock`).
public enum WallClock {
    /// Milliseconds since the Unix epoch.
    public static func millisecondsSinceEpoch() -> Int64 {
        microsecondsSinceEpoch() / 1000
    }

    /// Microseconds since the Unix epoch.
    public static func microsecondsSinceEpoch() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Int64(ts.tv_sec) * 1_000_000 + Int64(ts.tv_nsec) / 1000
    }
}
