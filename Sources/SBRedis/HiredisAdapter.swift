import CHiredis
import SBEventLoop

/// Plugs one hiredis async context into an `EventLoop`, the way hiredis's own adapters do
/// (adapters/ae.h): idempotent add/del read/write hooks that set the fd's interest, and a
/// cleanup hook that unregisters. hiredis calls the hooks; we call `redisAsyncHandleRead/Write`
/// when the fd is ready.
final class HiredisAdapter: IOHandler {
    let loop: EventLoop
    let context: UnsafeMutablePointer<redisAsyncContext>
    private var registration: Registration?
    private var reading = false
    private var writing = false
    /// Set by hiredis's cleanup hook: the context is being freed and must not be touched.
    private(set) var released = false

    init(loop: EventLoop, context: UnsafeMutablePointer<redisAsyncContext>) {
        self.loop = loop
        self.context = context
    }

    /// Installs the hooks. The adapter is retained by the context until cleanup.
    func attach() {
        context.pointee.ev.data = Unmanaged.passRetained(self).toOpaque()
        context.pointee.ev.addRead = { HiredisAdapter.from($0).set(read: true) }
        context.pointee.ev.delRead = { HiredisAdapter.from($0).set(read: false) }
        context.pointee.ev.addWrite = { HiredisAdapter.from($0).set(write: true) }
        context.pointee.ev.delWrite = { HiredisAdapter.from($0).set(write: false) }
        context.pointee.ev.cleanup = { data in
            guard let data else { return }
            let adapter = Unmanaged<HiredisAdapter>.fromOpaque(data).takeRetainedValue()
            adapter.released = true
            adapter.reading = false
            adapter.writing = false
            adapter.update()
        }
    }

    private static func from(_ data: UnsafeMutableRawPointer?) -> HiredisAdapter {
        Unmanaged<HiredisAdapter>.fromOpaque(data!).takeUnretainedValue()
    }

    private func set(read: Bool? = nil, write: Bool? = nil) {
        if let read { reading = read }
        if let write { writing = write }
        update()
    }

    private func update() {
        var interest: IOEvents = []
        if reading { interest.insert(.readable) }
        if writing { interest.insert(.writable) }
        if interest.isEmpty {
            if let registration { loop.deregister(registration) }
            registration = nil
        } else if let registration {
            loop.setInterest(interest, for: registration)
        } else {
            registration = try? loop.register(fd: context.pointee.c.fd, interest: interest, handler: self)
        }
    }

    func handleIO(_ events: IOEvents) {
        if !released, events.contains(.readable) || events.contains(.hangup) {
            redisAsyncHandleRead(context)
        }
        if !released, events.contains(.writable) {
            redisAsyncHandleWrite(context)
        }
    }
}
