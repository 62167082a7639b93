public import SBEventLoop
import SBTLS

/// The byte stream under one Redis connection, once its TCP connect finished: read into a
/// buffer, write from a buffer, close. `RedisSocket` does everything else (connect, epoll,
/// corking, the reply reader), so a TLS session on the same socket (SBTLS, `rediss://`) slots
/// in here without touching the connection: it would add a handshake step between the TCP
/// connect and `connected`, and answer `wouldBlock` while it waits for the other direction.
protocol RedisTransport: AnyObject {
    func read(into buffer: UnsafeMutableRawBufferPointer) throws(IOError) -> IOResult
    func write(_ bytes: UnsafeRawBufferPointer) throws(IOError) -> IOResult
    /// Closes the descriptor; no call after this one.
    func close()
}

/// Plain TCP: the fd itself.
final class PlainTransport: RedisTransport {
    let fd: Int32

    init(fd: Int32) { self.fd = fd }

    func read(into buffer: UnsafeMutableRawBufferPointer) throws(IOError) -> IOResult {
        try SocketIO.read(fd: fd, into: buffer)
    }

    func write(_ bytes: UnsafeRawBufferPointer) throws(IOError) -> IOResult {
        try SocketIO.send(fd: fd, bytes)
    }

    func close() { SocketIO.close(fd: fd) }
}

/// `rediss://`: a client TLS session (SBTLS, OpenSSL) on the same socket. `RedisSocket` runs
/// its handshake between the TCP connect and `connected`; afterwards reads and writes go
/// through the session, and closing sends a best-effort close_notify before the fd closes.
final class TLSTransport: RedisTransport {
    let fd: Int32
    let session: TLSSession

    init(fd: Int32, session: TLSSession) {
        self.fd = fd
        self.session = session
    }

    func read(into buffer: UnsafeMutableRawBufferPointer) throws(IOError) -> IOResult {
        try session.read(into: buffer)
    }

    func write(_ bytes: UnsafeRawBufferPointer) throws(IOError) -> IOResult {
        try session.write(bytes)
    }

    func close() {
        session.close()
        SocketIO.close(fd: fd)
    }
}
