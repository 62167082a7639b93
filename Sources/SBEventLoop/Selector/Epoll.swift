import CSBLinux

/// The only place that talks to epoll. Level-triggered: a handler that leaves bytes unread is
/// simply called again, which keeps fairness between connections easy to reason about.
struct Epoll: ~Copyable {
    let fd: Int32
    private let eventWords: UnsafeMutablePointer<UInt32>
    private let eventData: UnsafeMutablePointer<UInt64>
    static let capacity = 256

    init() throws(IOError) {
        let fd = CSBLinux_epoll_create()
        guard fd >= 0 else { throw IOError(call: "epoll_create1", errno: CSBLinux_errno()) }
        self.fd = fd
        eventWords = .allocate(capacity: Epoll.capacity)
        eventData = .allocate(capacity: Epoll.capacity)
    }

    deinit {
        Posix.close(fd: fd)
        eventWords.deallocate()
        eventData.deallocate()
    }

    func add(fd: Int32, interest: IOEvents, registration: Registration) throws(IOError) {
        if CSBLinux_epoll_ctl(self.fd, CSBLinux_EPOLL_CTL_ADD, fd, interest.epollBits, registration.packed) != 0 {
            throw IOError(call: "epoll_ctl(ADD)", errno: CSBLinux_errno())
        }
    }

    func modify(fd: Int32, interest: IOEvents, registration: Registration) throws(IOError) {
        if CSBLinux_epoll_ctl(self.fd, CSBLinux_EPOLL_CTL_MOD, fd, interest.epollBits, registration.packed) != 0 {
            throw IOError(call: "epoll_ctl(MOD)", errno: CSBLinux_errno())
        }
    }

    func remove(fd: Int32) {
        // Failure here means the fd is already gone from the set; nothing to undo.
        _ = CSBLinux_epoll_ctl(self.fd, CSBLinux_EPOLL_CTL_DEL, fd, 0, 0)
    }

    /// Waits up to `timeoutMilliseconds` (-1 = forever) and calls `body` per ready registration.
    /// Returns how many events were ready.
    @discardableResult
    func wait(timeoutMilliseconds: Int32, _ body: (Registration, IOEvents) -> Void) throws(IOError) -> Int {
        let n = CSBLinux_epoll_wait(fd, eventWords, eventData, Int32(Epoll.capacity), timeoutMilliseconds)
        guard n >= 0 else { throw IOError(call: "epoll_wait", errno: CSBLinux_errno()) }
        for i in 0..<Int(n) {
            body(Registration(packed: eventData[i]), IOEvents(epoll: eventWords[i]))
        }
        return Int(n)
    }
}
