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
public final class RedisPolledConnection: RedisBlockingCalls {
    private let fd: Int32
    private let transport: any RedisTransport
    private let session: TLSSession?
    private let reader = RedisReplyReader()
    private let timeoutMilliseconds: Int
    private let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 32 * 1024, alignment: 16)

    private init(fd: Int32, transport: any RedisTransport, session: TLSSession?, timeoutMilliseconds: Int) {
        self.fd = fd
        self.transport = transport
        self.session = session
        self.timeoutMilliseconds = timeoutMilliseconds
    }

    deinit {
        transport.close()
        buffer.deallocate()
    }

    /// Connects to `address` (numeric host); with `tls`, the TLS handshake runs before this
    /// returns. Every step has `timeoutMilliseconds`.
    static func connect(address: RedisAddress, tls: RedisSocket.TLS?,
                        timeoutMilliseconds: Int) throws(RedisDiscoveryError) -> RedisPolledConnection {
        let timeout = max(timeoutMilliseconds, 1)
        let fd: Int32
        do {
            fd = try SocketIO.connectTCP(host: address.host, port: address.port)
        } catch {
            throw RedisDiscoveryError("connect: \(error)")
        }
        guard SocketIO.wait(fd: fd, writable: true, milliseconds: timeout) else {
            SocketIO.close(fd: fd)
            throw RedisDiscoveryError("connect timed out after \(timeout) ms")
        }
        let error = SocketIO.pendingError(fd: fd)
        guard error == 0 else {
            SocketIO.close(fd: fd)
            throw RedisDiscoveryError("connect: \(String(cString: strerror(error)))")
        }
        guard let tls else {
            return RedisPolledConnection(fd: fd, transport: PlainTransport(fd: fd), session: nil, timeoutMilliseconds: timeout)
        }
        guard let session = TLSSession(client: tls.context, fd: fd, serverName: tls.serverName, now: 0,
                                       handshakeTimeout: UInt64.max / 2) else {
            SocketIO.close(fd: fd)
            throw RedisDiscoveryError("cannot start a TLS session")
        }
        // From here the connection owns the descriptor and the session: its deinit closes both.
        let connection = RedisPolledConnection(fd: fd, transport: TLSTransport(fd: fd, session: session), session: session,
                                               timeoutMilliseconds: timeout)
        while true {
            switch session.stepHandshake() {
            case .established:
                return connection
            case .fail(let reason):
                throw RedisDiscoveryError("TLS failed: \(RedisSocket.describe(reason, detail: session.failureDetail))")
            case .wait:
                let writable = session.machine.interest(connection: []) == .writable
                guard SocketIO.wait(fd: fd, writable: writable, milliseconds: timeout) else {
                    throw RedisDiscoveryError("TLS handshake timed out after \(timeout) ms")
                }
            }
        }
    }

    /// A `rediss://` URL (with its `tls` settings): its host resolved here (blocking), the
    /// certificate checked against REDIS_TLS_SERVER_NAME or that host. For tools off the loops
    /// (`switchboard reshard`).
    public static func connect(url: RedisURL, timeoutMilliseconds: Int) throws(RedisDiscoveryError) -> RedisPolledConnection {
        guard let settings = url.tls else { throw RedisDiscoveryError("\(url): rediss:// without TLS settings") }
        let address = try RedisDiscovery.numericAddress(of: url.host).get()
        return try connect(address: RedisAddress(host: address, port: url.port),
                           tls: RedisSocket.TLS(context: settings.context, serverName: settings.serverName ?? url.host),
                           timeoutMilliseconds: timeoutMilliseconds)
    }

    /// One command, one reply (an error reply is a `.success(.error…)`).
    public func call(_ arguments: RedisArguments) -> Result<RedisReply, RedisDiscoveryError> {
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
