#if canImport(Glibc)
public import Glibc
#endif

/// A value behind a `pthread_mutex_t`, for the few places where threads really share state
/// (a loop's inbox, the hub's interest map, the memory store).
///
/// Not `Synchronization.Mutex`: on Linux that one parks threads with raw `futex` calls, which
/// ThreadSanitizer cannot see, so every access it protects is reported as a race and a
/// `--sanitize=thread` run cannot tell real races from noise. pthread mutexes are understood by
/// TSan, and uncontended they cost the same (one atomic each way).
public final class Locked<Value>: @unchecked Sendable {
    @usableFromInline let mutex: UnsafeMutablePointer<pthread_mutex_t>
    @usableFromInline var value: Value

    public init(_ value: Value) {
        self.value = value
        mutex = .allocate(capacity: 1)
        mutex.initialize(to: pthread_mutex_t())
        let status = pthread_mutex_init(mutex, nil)
        precondition(status == 0, "pthread_mutex_init failed: \(status)")
    }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deinitialize(count: 1)
        mutex.deallocate()
    }

    /// Runs `body` with the value while holding the lock. Never call back into the same lock.
    /// Inlinable: specialized where it is used, not a generic call with run-time exclusivity
    /// checks (the loop's inbox, the memory store's shards and the request metrics take it
    /// on every turn or request).
    @inlinable
    public func withLock<Result>(_ body: (inout Value) throws -> Result) rethrows -> Result {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body(&value)
    }
}
