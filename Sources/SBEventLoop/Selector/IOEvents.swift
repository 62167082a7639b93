import CSBLinux

/// Our own readiness words: epoll's are translated once, here, and nowhere else.
public struct IOEvents: OptionSet, Sendable {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    public static let readable = IOEvents(rawValue: 1)
    public static let writable = IOEvents(rawValue: 2)
    /// The peer hung up or the socket errored: read until EOF/error to learn which.
    public static let hangup = IOEvents(rawValue: 4)
    /// Error or full hang-up (EPOLLERR/EPOLLHUP, also part of `hangup`). epoll reports these
    /// whatever the interest, so an owner that is not reading must act on them (close), or it
    /// is woken again on every turn.
    public static let failed = IOEvents(rawValue: 8)

    init(epoll bits: UInt32) {
        var events: IOEvents = []
        if bits & CSBLinux_EPOLLIN != 0 { events.insert(.readable) }
        if bits & CSBLinux_EPOLLOUT != 0 { events.insert(.writable) }
        if bits & (CSBLinux_EPOLLERR | CSBLinux_EPOLLHUP | CSBLinux_EPOLLRDHUP) != 0 { events.insert(.hangup) }
        if bits & (CSBLinux_EPOLLERR | CSBLinux_EPOLLHUP) != 0 { events.insert(.failed) }
        self = events
    }

    /// RDHUP is watched only with reading: a half-closed peer stays "RDHUP-ready" forever
    /// (level-triggered), so an owner that paused its reads would otherwise spin.
    var epollBits: UInt32 {
        var bits: UInt32 = 0
        if contains(.readable) { bits |= CSBLinux_EPOLLIN | CSBLinux_EPOLLRDHUP }
        if contains(.writable) { bits |= CSBLinux_EPOLLOUT }
        return bits
    }
}

/// Whoever owns a registered fd: called on the loop thread with what is ready.
public protocol IOHandler: AnyObject {
    func handleIO(_ events: IOEvents)
}

/// A registration: slot plus generation, packed into `epoll_event.data`, so an event queued for
/// a closed fd whose number (and slot) has since been reused is recognised and dropped.
public struct Registration: Hashable, Sendable {
    let slot: UInt32
    let generation: UInt32

    var packed: UInt64 { UInt64(generation) << 32 | UInt64(slot) }

    /// Never registered (or no longer): every loop call given it does nothing. Lets a holder
    /// keep a plain value instead of an optional (which pads to 12 bytes).
    public static let none = Registration(slot: .max, generation: 0)

    init(slot: UInt32, generation: UInt32) {
        self.slot = slot
        self.generation = generation
    }

    init(packed: UInt64) {
        self.slot = UInt32(truncatingIfNeeded: packed)
        self.generation = UInt32(truncatingIfNeeded: packed >> 32)
    }
}
