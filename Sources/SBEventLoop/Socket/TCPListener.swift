import CSBLinux
#if canImport(Glibc)
import Glibc
#endif

/// A non-blocking listening socket. Owned by one loop; `close()` is explicit.
///
/// It keeps one spare descriptor: when `accept4` fails with EMFILE/ENFILE the pending
/// connection stays in the backlog and the (level-triggered) listener stays readable, so a loop
/// that merely retries spins. `shedOne` frees the spare, accepts one connection, answers it and
/// closes it, and takes the spare back (the libev/nginx trick).
public final class TCPListener {
    public private(set) var fd: Int32
    public let port: Int
    private var reserveFD: Int32

    public enum AcceptResult: Equatable {
        case accepted(fd: Int32, peer: String)
        /// Nothing pending (or the peer gave up before we accepted).
        case none
        /// EMFILE/ENFILE: the connection is still pending.
        case outOfDescriptors(errno: Int32)
    }

    /// Binds `host:port` (numeric address). With `reusePort`, several loops can each bind their
    /// own listener on the same port and the kernel spreads connections across them.
    public init(host: String, port: Int, backlog: Int = 4096, reusePort: Bool) throws(IOError) {
        let fd = CSBLinux_listen_tcp(host, Int32(port), Int32(backlog), reusePort ? 1 : 0)
        guard fd >= 0 else { throw IOError(call: "listen(\(host):\(port))", errno: -fd) }
        self.fd = fd
        self.port = Int(CSBLinux_local_port(fd))
        reserveFD = CSBLinux_reserve_fd()
    }

    /// Fails with EADDRINUSE when anything listens on `host:port` already. The loops' listeners
    /// share their port through SO_REUSEPORT, and so would a second process of the same user:
    /// the kernel would quietly split new connections between the two. A plain bind (no
    /// SO_REUSEPORT) is refused by any listener there, ours or not; it is closed at once.
    public static func ensureFree(host: String, port: Int) throws(IOError) {
        let fd = CSBLinux_listen_tcp(host, Int32(port), 1, 0)
        guard fd >= 0 else {
            throw IOError(call: "listen(\(host):\(port))" + (-fd == EADDRINUSE ? " (is another process listening on this port?)" : ""), errno: -fd)
        }
        SocketIO.close(fd: fd)
    }

    /// Accepts one connection. The socket comes non-blocking, CLOEXEC and with TCP_NODELAY (we
    /// cork ourselves, so Nagle only adds latency).
    public func accept() throws(IOError) -> AcceptResult {
        var ip = [CChar](repeating: 0, count: 64)
        let c = CSBLinux_accept(fd, &ip, 64)
        if c >= 0 {
            _ = CSBLinux_set_nodelay(c)
            let peer = ip.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
            return .accepted(fd: c, peer: peer)
        }
        switch -c {
        case EAGAIN: return .none
        // The peer gave up before we accepted, or a firewall refused it: skip this one.
        case ECONNABORTED, EPROTO, EPERM: return .none
        case EMFILE, ENFILE: return .outOfDescriptors(errno: -c)
        default: throw IOError(call: "accept4", errno: -c)
        }
    }

    /// Out of descriptors: accepts one pending connection with the spare descriptor, writes
    /// `response` (best effort) and closes it. False when there is no spare or nothing was
    /// accepted; then the caller must stop watching the listener for a while.
    public func shedOne(response: [UInt8]) -> Bool {
        guard reserveFD >= 0 else {
            reserveFD = CSBLinux_reserve_fd()  // a descriptor may have come free since
            return false
        }
        Posix.close(fd: reserveFD)
        var ip = [CChar](repeating: 0, count: 64)
        let c = CSBLinux_accept(fd, &ip, 64)
        if c >= 0 {
            response.withUnsafeBytes { _ = Glibc.send(c, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL) | Int32(MSG_DONTWAIT)) }
            Posix.close(fd: c)
        }
        reserveFD = CSBLinux_reserve_fd()
        return c >= 0
    }

    public func close() {
        guard fd >= 0 else { return }
        Posix.close(fd: fd)
        fd = -1
        if reserveFD >= 0 { Posix.close(fd: reserveFD) }
        reserveFD = -1
    }

    deinit {
        assert(fd < 0, "TCPListener deinit without close()")
    }
}
