import CSBLinux
#if canImport(Glibc)
import Glibc
#endif

/// A non-blocking listening socket. Owned by one loop; `close()` is explicit.
public final class TCPListener {
    public private(set) var fd: Int32
    public let port: Int

    /// Binds `host:port` (numeric address). With `reusePort`, several loops can each bind their
    /// own listener on the same port and the kernel spreads connections across them.
    public init(host: String, port: Int, backlog: Int = 4096, reusePort: Bool) throws(IOError) {
        let fd = CSBLinux_listen_tcp(host, Int32(port), Int32(backlog), reusePort ? 1 : 0)
        guard fd >= 0 else { throw IOError(call: "listen(\(host):\(port))", errno: -fd) }
        self.fd = fd
        self.port = Int(CSBLinux_local_port(fd))
    }

    /// Accepts one connection; nil when none is pending. The socket comes non-blocking, CLOEXEC
    /// and with TCP_NODELAY (we cork ourselves, so Nagle only adds latency).
    public func accept() throws(IOError) -> (fd: Int32, peer: String)? {
        var ip = [CChar](repeating: 0, count: 64)
        let c = CSBLinux_accept(fd, &ip, 64)
        if c >= 0 {
            _ = CSBLinux_set_nodelay(c)
            let peer = ip.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
            return (c, peer)
        }
        switch -c {
        case EAGAIN: return nil
        // The peer gave up before we accepted, or we are out of fds: skip this one.
        case ECONNABORTED, EPROTO, EPERM: return nil
        default: throw IOError(call: "accept4", errno: -c)
        }
    }

    public func close() {
        guard fd >= 0 else { return }
        Posix.close(fd: fd)
        fd = -1
    }

    deinit {
        assert(fd < 0, "TCPListener deinit without close()")
    }
}
