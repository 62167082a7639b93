#if canImport(Glibc)
import Glibc
#endif

/// Time as the event loops see it: monotonic nanoseconds, immune to wall-clock jumps.
public protocol MonotonicClockSource: Sendable {
    func nowNanoseconds() -> UInt64
}

public struct SystemMonotonicClock: MonotonicClockSource {
    public init() {}

    public func nowNanoseconds() -> UInt64 {
        MonotonicClock.now()
    }
}

public enum MonotonicClock {
    @inline(__always)
    public static func now() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec)
    }

    /// Wall-clock milliseconds since the Unix epoch (for timestamps and TTL bookkeeping).
    public static func wallMilliseconds() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Int64(ts.tv_sec) * 1000 + Int64(ts.tv_nsec) / 1_000_000
    }
}
