import SBCore
import CSBLinux
import HeapModule
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// One thread, one epoll set. Everything registered here — sockets, timers, before-sleep hooks —
/// is touched only from this loop's thread; other threads reach it through `execute`, a locked
/// task list plus an eventfd wake-up.
///
/// `@unchecked Sendable`: the only members used across threads are `execute` (behind a lock),
/// `inLoop` and the immutable `index`; everything else is confined to the loop thread by
/// contract (not checked at run time: a check on every call would cost the hot path).
public final class EventLoop: @unchecked Sendable {
    public let index: Int
    /// One receive buffer per loop, shared by all its connections: a connection keeps bytes of
    /// its own only while a request or frame is incomplete.
    public let readBuffer: UnsafeMutableRawBufferPointer
    private let epoll: Epoll
    private let wakeFD: Int32
    private let inbox = Locked<[@Sendable () -> Void]>([])
    private let wakePending = Atomic<Bool>(false)
    private var slots: [Slot] = []
    private var freeSlots: [UInt32] = []
    private var wakeRegistration: Registration?
    var timers = Heap<TimerEntry>()
    var timerCallbacks: [UInt64: TimerCallback] = [:]
    var nextTimerID: UInt64 = 1
    private var beforeSleepHooks: [(_ busy: Bool) -> Bool] = []
    /// The monotonic time of this loop turn (read at the top of each turn, and again after a
    /// poll that reports I/O): what the connections' machines time their deadlines by, so a
    /// request costs no clock read of its own. Loop thread only. Stale by at most one turn.
    public internal(set) var now: UInt64 = MonotonicClock.now()
    /// The loop thread's id once `run()` started (0 before): read from any thread by `inLoop`.
    private let threadID = Atomic<UInt>(0)
    private let stopRequested = Atomic<Bool>(false)

    struct Slot {
        var handler: (any IOHandler)?
        var fd: Int32 = -1
        var generation: UInt32 = 0
        var interest: IOEvents = []
    }

    public init(index: Int = 0) throws(IOError) {
        self.index = index
        epoll = try Epoll()
        readBuffer = .allocate(byteCount: 256 * 1024, alignment: 16)
        let fd = CSBLinux_eventfd()
        guard fd >= 0 else { throw IOError(call: "eventfd", errno: CSBLinux_errno()) }
        wakeFD = fd
    }

    deinit {
        readBuffer.deallocate()
        Posix.close(fd: wakeFD)
    }

    /// True on this loop's own thread.
    public var inLoop: Bool {
        let thread = threadID.load(ordering: .acquiring)
        return thread != 0 && pthread_equal(thread, pthread_self()) != 0
    }

    // MARK: Cross-thread hand-off

    /// Runs `task` on the loop thread, in submission order. Safe from any thread.
    public func execute(_ task: @escaping @Sendable () -> Void) {
        inbox.withLock { $0.append(task) }
        // One eventfd write per batch: later submitters see the flag and skip the syscall. The
        // loop's own thread needs none: it checks the flag before it sleeps.
        if !wakePending.exchange(true, ordering: .acquiringAndReleasing), !inLoop {
            _ = CSBLinux_eventfd_signal(wakeFD)
        }
    }

    /// Runs the tasks handed over so far; true if there were any.
    @discardableResult
    private func runInbox() -> Bool {
        wakePending.store(false, ordering: .releasing)
        let tasks = inbox.withLock { list -> [@Sendable () -> Void] in
            let taken = list
            list.removeAll(keepingCapacity: true)
            return taken
        }
        for task in tasks { task() }
        return !tasks.isEmpty
    }

    // MARK: Registrations

    @discardableResult
    public func register(fd: Int32, interest: IOEvents, handler: any IOHandler) throws(IOError) -> Registration {
        let slot: UInt32
        if let reused = freeSlots.popLast() {
            slot = reused
        } else {
            slot = UInt32(slots.count)
            slots.append(Slot())
        }
        slots[Int(slot)].generation &+= 1
        slots[Int(slot)].handler = handler
        slots[Int(slot)].fd = fd
        slots[Int(slot)].interest = interest
        let registration = Registration(slot: slot, generation: slots[Int(slot)].generation)
        do {
            try epoll.add(fd: fd, interest: interest, registration: registration)
        } catch {
            release(slot: slot)
            throw error
        }
        return registration
    }

    public func setInterest(_ interest: IOEvents, for registration: Registration) {
        guard let index = live(registration), slots[index].interest != interest else { return }
        slots[index].interest = interest
        // MOD on a live fd only fails if the fd was closed behind our back: the deregister
        // that follows will clean up.
        try? epoll.modify(fd: slots[index].fd, interest: interest, registration: registration)
    }

    /// Removes the fd from the set. The caller still owns (and closes) the fd.
    public func deregister(_ registration: Registration) {
        guard let index = live(registration) else { return }
        epoll.remove(fd: slots[index].fd)
        release(slot: UInt32(index))
    }

    private func release(slot: UInt32) {
        slots[Int(slot)].handler = nil
        slots[Int(slot)].fd = -1
        slots[Int(slot)].interest = []
        slots[Int(slot)].generation &+= 1
        freeSlots.append(slot)
    }

    private func live(_ registration: Registration) -> Int? {
        let index = Int(registration.slot)
        guard index < slots.count, slots[index].generation == registration.generation, slots[index].handler != nil else {
            return nil
        }
        return index
    }

    // MARK: Running

    /// Hooks run once per iteration just before the loop polls: this is where corked writes
    /// are flushed, so everything one iteration produced for a socket leaves in one write.
    /// `busy` tells the hook that this iteration had I/O or handed-over tasks, so more work is
    /// likely right behind it; a hook may then do a bounded part of its work and return true
    /// (work left), and the loop polls without sleeping and calls it again. When a poll finds
    /// nothing, the hook runs with `busy` false and should finish.
    public func addBeforeSleep(_ hook: @escaping (_ busy: Bool) -> Bool) {
        beforeSleepHooks.append(hook)
    }

    /// Lets other runnable threads on this core go first (`sched_yield`); returns at once when
    /// there are none. For hooks that stop with work left.
    public func yieldCPU() {
        sched_yield()
    }

    /// Runs every hook once; true if any has work left.
    private func runBeforeSleepHooks(busy: Bool) -> Bool {
        var more = false
        for hook in beforeSleepHooks where hook(busy) { more = true }
        return more
    }

    /// Runs the loop on the calling thread until `stop()`.
    public func run() throws(IOError) {
        threadID.store(pthread_self(), ordering: .releasing)
        let wake = WakeHandler(fd: wakeFD)
        wakeRegistration = try register(fd: wakeFD, interest: .readable, handler: wake)
        var hadIO = false
        while !stopRequested.load(ordering: .acquiring) {
            let hadTasks = runInbox()
            runDueTimers()
            let moreWork = runBeforeSleepHooks(busy: hadIO || hadTasks)
            let timeout = moreWork || wakePending.load(ordering: .acquiring) ? 0 : millisecondsUntilNextTimer()
            var stamped = false
            let ready = try epoll.wait(timeoutMilliseconds: timeout) { registration, events in
                if !stamped {  // once per turn, after the sleep
                    now = MonotonicClock.now()
                    stamped = true
                }
                guard let index = live(registration), let handler = slots[index].handler else { return }
                handler.handleIO(events)
            }
            hadIO = ready > 0
        }
        runInbox()
        // Until the hooks are done; bounded, in case one keeps finding work.
        var rounds = 0
        while runBeforeSleepHooks(busy: false), rounds < 100_000 { rounds += 1 }
        if let wakeRegistration { deregister(wakeRegistration) }
    }

    /// Asks the loop to return from `run()` after its current iteration. Safe from any thread.
    public func stop() {
        stopRequested.store(true, ordering: .releasing)
        execute {}
    }
}

/// Drains the eventfd; the tasks themselves run at the top of the next iteration.
private final class WakeHandler: IOHandler {
    let fd: Int32
    init(fd: Int32) { self.fd = fd }
    func handleIO(_ events: IOEvents) {
        _ = CSBLinux_eventfd_drain(fd)
    }
}
