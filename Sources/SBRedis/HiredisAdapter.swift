import CHiredis
import DequeModule
import SBEventLoop

/// Plugs one hiredis async context into an `EventLoop` the way hiredis's own adapters do
/// (`adapters/ae.h`): hiredis calls idempotent add/del read/write hooks and one `cleanup`; we
/// call `redisAsyncHandleRead/Write` when the fd is ready. One adapter per context, attached once.
///
/// Writes are corked once connected (lesson 4): hiredis asks to write after every command, and
/// arming EPOLLOUT for that would cost two `epoll_ctl` calls and a loop turn per batch. Instead
/// the first request of a turn schedules one flush (a zero-delay timer, which runs before the
/// loop next sleeps), and that flush writes every command queued meanwhile with a single
/// `redisAsyncHandleWrite`. EPOLLOUT is armed only when the socket pushed back.
///
/// The adapter also holds what belongs to one context: the send times of its pending commands
/// and the error they fail with when it is freed.
final class HiredisAdapter: IOHandler {
    let loop: EventLoop
    let context: UnsafeMutablePointer<redisAsyncContext>
    /// Strong on purpose: a connection stays alive while hiredis still owns one of its contexts.
    let owner: RedisConnection
    /// Send times of commands awaiting a reply, oldest first (Redis replies in order).
    var inFlight = Deque<UInt64>()
    /// What commands still pending fail with when this context is freed (set before a drop).
    var failure = RedisError.disconnected
    /// Set by hiredis's cleanup hook: the context is being freed and must not be touched again.
    private(set) var released = false
    /// True once connected: write requests are batched into one flush per loop turn.
    var corked = false
    /// Where Pub/Sub replies on this context go (see RedisSubscriber): hiredis calls the
    /// channel callbacks with this adapter as privdata.
    var pushHandler: ((RedisReply) -> Void)?

    private var registration: Registration?
    private var reading = false
    private var writing = false
    private var pushback = false
    private var flushScheduled = false
    private var inWrite = false

    init(loop: EventLoop, context: UnsafeMutablePointer<redisAsyncContext>, owner: RedisConnection) {
        self.loop = loop
        self.context = context
        self.owner = owner
    }

    /// Installs the hooks. hiredis holds a +1 reference in `ev.data` until `cleanup`.
    func attach() {
        precondition(context.pointee.ev.data == nil, "a hiredis context is attached at most once")
        context.pointee.ev.data = Unmanaged.passRetained(self).toOpaque()
        context.pointee.ev.addRead = { HiredisAdapter.from($0)?.setReading(true) }
        context.pointee.ev.delRead = { HiredisAdapter.from($0)?.setReading(false) }
        context.pointee.ev.addWrite = { HiredisAdapter.from($0)?.setWriting(true) }
        context.pointee.ev.delWrite = { HiredisAdapter.from($0)?.setWriting(false) }
        context.pointee.ev.cleanup = { data in
            guard let data else { return }
            Unmanaged<HiredisAdapter>.fromOpaque(data).takeRetainedValue().release()
        }
    }

    static func from(_ data: UnsafeMutableRawPointer?) -> HiredisAdapter? {
        data.map { Unmanaged<HiredisAdapter>.fromOpaque($0).takeUnretainedValue() }
    }

    /// hiredis is freeing the context: unregister and tell the owner (which must not call
    /// hiredis from here; it only schedules a reconnect).
    private func release() {
        released = true
        reading = false
        writing = false
        if let registration { loop.deregister(registration) }
        registration = nil
        owner.contextReleased(self)
    }

    private func setReading(_ on: Bool) {
        reading = on
        update()
    }

    private func setWriting(_ on: Bool) {
        writing = on
        if on, corked, !pushback, !inWrite, !flushScheduled {
            flushScheduled = true
            loop.schedule(after: .zero) { [self] in flush() }
        }
        update()
    }

    private func update() {
        guard !released else { return }
        var interest: IOEvents = []
        if reading { interest.insert(.readable) }
        if writing && (!corked || pushback) { interest.insert(.writable) }
        if interest.isEmpty {
            if let registration { loop.deregister(registration) }
            registration = nil
        } else if let registration {
            loop.setInterest(interest, for: registration)
        } else {
            do {
                registration = try loop.register(fd: context.pointee.c.fd, interest: interest, handler: self)
            } catch {
                // Without epoll we can never hear from this socket: drop it and reconnect.
                owner.registrationFailed(self, error: "\(error)")
            }
        }
    }

    private func flush() {
        flushScheduled = false
        guard !released, writing, corked, !pushback else { return }
        write()
    }

    /// One write attempt; whatever hiredis could not write waits for EPOLLOUT.
    private func write() {
        inWrite = true
        owner.withinHiredis { redisAsyncHandleWrite(context) }  // may free the context on a write error
        inWrite = false
        guard !released else { return }
        pushback = writing
        update()
    }

    func handleIO(_ events: IOEvents) {
        if !released, events.contains(.readable) || events.contains(.hangup) {
            owner.withinHiredis { redisAsyncHandleRead(context) }
        }
        if !released, events.contains(.writable) {
            write()
        }
    }
}
