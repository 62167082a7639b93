import CSBLinux
#if canImport(Glibc)
import Glibc
#endif

/// Plain fd I/O for connection owners above the loop: read into the loop's shared buffer,
/// write, close. Keeps `Glibc` calls inside this module.
public enum SocketIO {
    public static func read(fd: Int32, into buffer: UnsafeMutableRawBufferPointer) throws(IOError) -> IOResult {
        try Posix.read(fd: fd, into: buffer)
    }

    public static func write(fd: Int32, _ bytes: UnsafeRawBufferPointer) throws(IOError) -> IOResult {
        try Posix.write(fd: fd, bytes)
    }

    /// `send` with MSG_NOSIGNAL: a peer that closed gives EPIPE, never SIGPIPE.
    public static func send(fd: Int32, _ bytes: UnsafeRawBufferPointer) throws(IOError) -> IOResult {
        try Posix.send(fd: fd, bytes)
    }

    public static func close(fd: Int32) {
        Posix.close(fd: fd)
    }

    /// Closes with SO_LINGER 0: a RST, and whatever the kernel still held for the peer is
    /// freed at once (for a peer that reads nothing, which would otherwise keep it for minutes).
    public static func abort(fd: Int32) {
        var option = linger(l_onoff: 1, l_linger: 0)
        _ = setsockopt(fd, SOL_SOCKET, SO_LINGER, &option, socklen_t(MemoryLayout<linger>.size))
        Posix.close(fd: fd)
    }

    /// Half-close our side so the peer reads EOF after the last queued byte (used for
    /// "respond then close" without RST-ing unread request bytes).
    public static func shutdownWrite(fd: Int32) {
        _ = Glibc.shutdown(fd, Int32(SHUT_WR))
    }

    public static func setNonBlocking(fd: Int32) {
        _ = CSBLinux_set_nonblocking(fd)
    }

    public static func pendingError(fd: Int32) -> Int32 {
        CSBLinux_socket_error(fd)
    }

    /// Starts a non-blocking TCP connect to a numeric address (IPv4 or IPv6): the socket
    /// (non-blocking, close-on-exec) turns writable when the connect finished, and
    /// `pendingError` then says how. Throws when it fails at once.
    public static func connectTCP(host: String, port: Int) throws(IOError) -> Int32 {
        let fd = CSBLinux_connect_tcp(host, Int32(port))
        guard fd >= 0 else { throw IOError(call: "connect", errno: -fd) }
        return fd
    }

    /// Waits (blocking the calling thread: never a loop thread) until `fd` is readable or
    /// writable as asked, at most `milliseconds`. False on timeout or error. For the blocking
    /// queries of resolver threads (Sentinel over TLS).
    public static func wait(fd: Int32, writable: Bool, milliseconds: Int) -> Bool {
        var entry = pollfd(fd: fd, events: Int16(writable ? POLLOUT : POLLIN), revents: 0)
        while true {
            let result = poll(&entry, 1, Int32(clamping: max(milliseconds, 0)))
            if result < 0 && errno == EINTR { continue }
            return result > 0
        }
    }

    public static func setNoDelay(fd: Int32) {
        _ = CSBLinux_set_nodelay(fd)
    }

    /// TCP keepalive: a peer gone silent (a dead host, a dropped route) is found after `idle`
    /// seconds plus `count` unanswered probes `interval` seconds apart.
    public static func setKeepAlive(fd: Int32, idle: Int32, interval: Int32, count: Int32) {
        _ = CSBLinux_set_keepalive(fd, idle, interval, count)
    }
}
