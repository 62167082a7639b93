import CSBLinux
#if canImport(Glibc)
import Glibc
#endif

/// A failed system call, with the call's name so logs say what went wrong where.
public struct IOError: Error, CustomStringConvertible, Sendable {
    public let call: String
    public let errno: Int32

    public init(call: String, errno: Int32) {
        self.call = call
        self.errno = errno
    }

    public var description: String {
        "\(call) failed: \(String(cString: strerror(errno))) (errno \(errno))"
    }
}

/// What a non-blocking read or write did.
public enum IOResult: Equatable, Sendable {
    case processed(Int)
    case wouldBlock
    case eof
}

/// The one errno policy: EINTR retried, EAGAIN is `.wouldBlock`, EBADF/EFAULT are our bug,
/// anything else is a typed error naming the call.
@usableFromInline
enum Posix {
    @inline(__always)
    static func check(_ call: String, _ result: Int) throws(IOError) -> IOResult {
        if result >= 0 { return .processed(result) }
        let code = CSBLinux_errno()
        switch code {
        case EAGAIN:
            return .wouldBlock
        case EBADF, EFAULT:
            preconditionFailure("\(call): \(code) — a closed or invalid fd was used")
        default:
            throw IOError(call: call, errno: code)
        }
    }

    static func read(fd: Int32, into buffer: UnsafeMutableRawBufferPointer) throws(IOError) -> IOResult {
        while true {
            let n = Glibc.read(fd, buffer.baseAddress, buffer.count)
            if n < 0 && CSBLinux_errno() == EINTR { continue }
            if n == 0 && buffer.count > 0 { return .eof }
            return try check("read", n)
        }
    }

    static func writev(fd: Int32, _ iov: UnsafeMutablePointer<iovec>, count: Int32) throws(IOError) -> IOResult {
        while true {
            let n = Glibc.writev(fd, iov, count)
            if n < 0 && CSBLinux_errno() == EINTR { continue }
            return try check("writev", n)
        }
    }

    /// `send` for a socket and one buffer: cheaper in the kernel than `writev` (no iovec import,
    /// no VFS layer), which matters when a broadcast makes one call per subscriber.
    static func send(fd: Int32, _ buffer: UnsafeRawBufferPointer) throws(IOError) -> IOResult {
        while true {
            let n = Glibc.send(fd, buffer.baseAddress, buffer.count, Int32(MSG_NOSIGNAL) | Int32(MSG_DONTWAIT))
            if n < 0 && CSBLinux_errno() == EINTR { continue }
            return try check("send", n)
        }
    }

    static func write(fd: Int32, _ buffer: UnsafeRawBufferPointer) throws(IOError) -> IOResult {
        while true {
            let n = Glibc.write(fd, buffer.baseAddress, buffer.count)
            if n < 0 && CSBLinux_errno() == EINTR { continue }
            return try check("write", n)
        }
    }

    static func close(fd: Int32) {
        // Linux releases the fd even when close reports EINTR: never retry.
        _ = Glibc.close(fd)
    }
}
