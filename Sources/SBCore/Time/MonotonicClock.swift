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
}
