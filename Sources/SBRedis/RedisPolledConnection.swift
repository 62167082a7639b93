import SBEventLoop
import SBTLS
#if canImport(Glibc)
import Glibc
#endif

/// A blocking Redis connection built on the hub's own socket pieces (non-blocking socket waited
/// on with poll, `RedisTransport`, hiredis's reply reader), so it can speak TLS: the Sentinel
/// queries of a resolver thread with `rediss://`, where hiredis's blocking context (plain only)
/// cannot go. One deadline per step (connect, TLS handshake, each command). Never on a loop
/// thread.
final class RedisPolledConnection {
    private let fd: Int32
    private let transport: any RedisTransport
    private let session: TLSSession?
    private let reader = RedisReplyReader()
    private let timeoutMilliseconds: Int
    private let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 32 * 1024, alignment: 16)

    /// `address.host` is numeric. With `tls`, the TLS handshake runs before the first command.
    init(address: RedisAddress, tls: RedisSocket.TLS?, timeoutMilliseconds: Int) throws(RedisDiscoveryError) {
        self.timeoutMilliseconds = max(timeoutMilliseconds, 1)
        do {
            fd = try SocketIO.connectTCP(host: address.host, port: address.port)
        } catch {
            buffer.deallocate()
            throw RedisDiscoveryError("connect: \(error)")
        }
        guard SocketIO.wait(fd: fd, writable: true, milliseconds: self.timeoutMilliseconds) else {
            SocketIO.close(fd: fd)
            buffer.deallocate()
            throw RedisDiscoveryError("connect timed out after \(self.timeoutMilliseconds) ms")
        }
        let error = SocketIO.pendingError(fd: fd)
        guard error == 0 else {
            SocketIO.close(fd: fd)
            buffer.deallocate()
            throw RedisDiscoveryError("connect: \(String(cString: strerror(error)))")
        }
        guard let tls else {
            session = nil
            transport = PlainTransport(fd: fd)
            return
        }
        guard let session = TLSSession(client: tls.context, fd: fd, serverName: tls.serverName, now: 0,
                                       handshakeTimeout: UInt64.max / 2) else {
            SocketIO.close(fd: fd)
            buffer.deallocate()
            throw RedisDiscoveryError("cannot start a TLS session")
        }
        self.session = session
        transport = TLSTransport(fd: fd, session: session)
        while true {
            switch session.stepHandshake() {
            case .established:
                return
            case .fail(let reason):
                let detail = RedisSocket.describe(reason, detail: session.failureDetail)
                transport.close()
                buffer.deallocate()
                throw RedisDiscoveryError("TLS failed: \(detail)")
            case .wait:
                let writable = session.machine.interest(connection: []) == .writable
                guard SocketIO.wait(fd: fd, writable: writable, milliseconds: self.timeoutMilliseconds) else {
                    transport.close()
                    buffer.deallocate()
                    throw RedisDiscoveryError("TLS handshake timed out after \(self.timeoutMilliseconds) ms")
                }
            }
        }
    }

    deinit {
        transport.close()
        buffer.deallocate()
    }

    /// One command, one reply (an error reply is a `.success(.error…)`).
    func call(_ arguments: RedisArguments) -> Result<RedisReply, RedisDiscoveryError> {
        var output: [UInt8] = [UInt8(ascii: "*")]
        RedisArguments.appendDecimal(arguments.count, to: &output)
        output += [13, 10]
        output += arguments.body
        var offset = 0
        while offset < output.count {
            let result: IOResult
            do {
                result = try output.withUnsafeBytes { bytes throws(IOError) in
                    try transport.write(UnsafeRawBufferPointer(rebasing: bytes[offset...]))
                }
            } catch {
                return .failure(RedisDiscoveryError(session.map { "TLS: \($0.failureDetail)" } ?? "write: \(error)"))
            }
            switch result {
            case .processed(let n): offset += n
            case .eof: return .failure(RedisDiscoveryError("closed by the server"))
            case .wouldBlock:
                guard SocketIO.wait(fd: fd, writable: true, milliseconds: timeoutMilliseconds) else {
                    return .failure(RedisDiscoveryError("no reply in \(timeoutMilliseconds) ms"))
                }
            }
        }
        while true {
            switch reader.next() {
            case .reply(let reply): return .success(reply)
            case .failed(let message): return .failure(RedisDiscoveryError("not RESP: \(message)"))
            case .needMore: break
            }
            let result: IOResult
            do {
                result = try transport.read(into: buffer)
            } catch {
                return .failure(RedisDiscoveryError(session.map { "TLS: \($0.failureDetail)" } ?? "read: \(error)"))
            }
            switch result {
            case .processed(let n):
                guard reader.feed(UnsafeRawBufferPointer(rebasing: buffer[..<n])) else {
                    return .failure(RedisDiscoveryError("not RESP"))
                }
            case .eof:
                return .failure(RedisDiscoveryError("closed by the server"))
            case .wouldBlock:
                // A TLS read may wait for writability (a key update); otherwise for input.
                let writable = session.map { $0.machine.interest(connection: []) == .writable } ?? false
                guard SocketIO.wait(fd: fd, writable: writable, milliseconds: timeoutMilliseconds) else {
                    return .failure(RedisDiscoveryError("no reply in \(timeoutMilliseconds) ms"))
                }
            }
        }
    }
}
