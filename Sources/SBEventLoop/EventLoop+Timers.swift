/// Timers: a min-heap of deadlines; cancelled timers are dropped lazily when they surface.
public struct TimerHandle: Hashable, Sendable {
    let id: UInt64
}

final class TimerCallback {
    let body: () -> Void
    let repeatNanoseconds: UInt64?
    init(body: @escaping () -> Void, repeatNanoseconds: UInt64?) {
        self.body = body
        self.repeatNanoseconds = repeatNanoseconds
    }
}

struct TimerEntry: Comparable {
    let deadline: UInt64
    let id: UInt64
    static func < (a: TimerEntry, b: TimerEntry) -> Bool {
        a.deadline != b.deadline ? a.deadline < b.deadline : a.id < b.id
    }
}

public import SBCore
import HeapModule

extension EventLoop {
    /// Calls `body` once after `delay`. Loop thread only.
    @discardableResult
    public func schedule(after delay: Duration, _ body: @escaping () -> Void) -> TimerHandle {
        addTimer(delay: delay.nanoseconds, repeating: nil, body)
    }

    /// Calls `body` every `interval`, first after one interval. Loop thread only.
    @discardableResult
    public func scheduleRepeating(every interval: Duration, _ body: @escaping () -> Void) -> TimerHandle {
        let nanos = max(interval.nanoseconds, 1_000_000)
        return addTimer(delay: nanos, repeating: nanos, body)
    }

    public func cancel(_ handle: TimerHandle) {
        timerCallbacks[handle.id] = nil
    }

    private func addTimer(delay: UInt64, repeating: UInt64?, _ body: @escaping () -> Void) -> TimerHandle {
        let id = nextTimerID
        nextTimerID += 1
        timerCallbacks[id] = TimerCallback(body: body, repeatNanoseconds: repeating)
        timers.insert(TimerEntry(deadline: MonotonicClock.now() &+ delay, id: id))
        return TimerHandle(id: id)
    }

    func runDueTimers() {
        // Read every turn, timers or not: tasks handed over from other threads run before the
        // poll and time their deadlines by `now` too.
        let now = MonotonicClock.now()
        self.now = now
        guard !timers.isEmpty else { return }
        while let first = timers.min, first.deadline <= now {
            _ = timers.removeMin()
            guard let callback = timerCallbacks[first.id] else { continue }
            if let every = callback.repeatNanoseconds {
                timers.insert(TimerEntry(deadline: now &+ every, id: first.id))
            } else {
                timerCallbacks[first.id] = nil
            }
            callback.body()
        }
    }

    func millisecondsUntilNextTimer() -> Int32 {
        while let first = timers.min, timerCallbacks[first.id] == nil {
            _ = timers.removeMin()
        }
        guard let first = timers.min else { return -1 }
        let now = MonotonicClock.now()
        if first.deadline <= now { return 0 }
        // Round up so we never wake a hair early and spin.
        return Int32(min((first.deadline - now + 999_999) / 1_000_000, 60_000))
    }
}

extension Duration {
    var nanoseconds: UInt64 {
        let (seconds, attoseconds) = components
        return UInt64(max(seconds, 0)) * 1_000_000_000 + UInt64(max(attoseconds, 0) / 1_000_000_000)
    }
}
