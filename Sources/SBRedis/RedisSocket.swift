import DequeModule
import Logging
import SBEventLoop
import SBTLS
#if canImport(Glibc)
import Glibc
#endif

/// One Redis socket, owned by its `RedisConnection` on the connection's loop, the way the hub
/// owns its HTTP and WebSocket sockets: a non-blocking connect (its timeout is the state
/// machine's), then RESP requests out and replies in. hiredis only parses (`RedisReplyReader`);
/// it never sees the socket.
///
/// Writes are corked (lesson 4): the first command of a loop turn schedules one flush (a
/// zero-delay timer, which runs before the loop next sleeps), and that flush writes every command
/// queued meanwhile with one system call. EPOLLOUT is armed only when the socket pushed back.
/// Unsent bytes are bounded (`maxUnsentBytes`): past it a command is refused at once rather
/// than queued behind a server that stopped reading (the per-command timeout drops such a
/// connection soon after anyway).
///
/// Reads go through the loop's shared buffer straight into the reader; each complete reply is
/// handed to the owner, which routes it through the state machine (the oldest pending command,
/// or a push). `pending` holds the commands awaiting replies, oldest first: Redis answers in order.
///
/// `rediss://` (`tls`): once the TCP connect is done, a client TLS session (SBTLS) runs its
/// handshake on the same socket, as far as each readiness allows, and only then is the owner
/// told `socketConnected`; the connect deadline of the state machine covers both. A failed
/// handshake (certificate not trusted, wrong name, no client certificate, not a TLS server)
/// is one `.tls` failure with OpenSSL's reason.
///
/// Every failure (connect, read, write, EOF, bytes that are not RESP) goes to the owner once,
/// which drops the socket (`close`) and fails what is pending. The socket keeps a strong
/// reference to its owner until closed, as the connection must outlive a socket the loop still
/// watches.
final class RedisSocket: IOHandler {
    struct Pending {
        /// When the command was queued (the per-command timeout counts from here).
        let sentAt: UInt64
        let completion: RedisConnection.Completion
    }

    /// Unsent request bytes at most; beyond, commands fail with `.unavailable`.
    static let maxUnsentBytes = 64 << 20

    /// What a `rediss://` socket needs: the client context current when it opened, and the
    /// name the certificate must carry.
    struct TLS {
        let context: TLSClientContext
        let serverName: String
    }

    let loop: EventLoop
    let fd: Int32
    private let transport: any RedisTransport
    /// The TLS session, with `rediss://`.
    private let session: TLSSession?
    /// The TCP connect finished (with TLS, the handshake may still run).
    private var tcpUp = false
    private var owner: RedisConnection?
    private let reader = RedisReplyReader()
    /// Commands sent (or queued to send) awaiting their replies, oldest first.
    var pending = Deque<Pending>()
    /// Set by a graceful close: the socket closes once `pending` is empty.
    var closeWhenIdle = false
    private(set) var isConnected = false
    private(set) var isClosed = false
    private var registration: Registration?
    private var output: [UInt8] = []
    private var outputOffset = 0
    private var flushScheduled = false
    /// The socket took less than we had: EPOLLOUT is armed until it drained.
    private var pushback = false

    /// Starts a non-blocking connect to a numeric address; the owner hears `socketConnected`
    /// or `socketFailed`. Throws when the connect fails at once or epoll refuses the socket.
    init(loop: EventLoop, address: RedisAddress, owner: RedisConnection, tls: TLS? = nil, now: UInt64 = 0) throws(IOError) {
        self.loop = loop
        fd = try SocketIO.connectTCP(host: address.host, port: address.port)
        if let tls {
            // The state machine's connect deadline bounds the handshake; the session's own
            // deadline is not used.
            guard let session = TLSSession(client: tls.context, fd: fd, serverName: tls.serverName, now: now,
                                           handshakeTimeout: UInt64.max / 2) else {
                SocketIO.close(fd: fd)
                throw IOError(call: "SSL_new", errno: ENOMEM)
            }
            self.session = session
            transport = TLSTransport(fd: fd, session: session)
        } else {
            session = nil
            transport = PlainTransport(fd: fd)
        }
        self.owner = owner
        do {
            registration = try loop.register(fd: fd, interest: .writable, handler: self)
        } catch {
            transport.close()
            isClosed = true
            self.owner = nil
            throw error
        }
    }

    /// Unregisters and closes the descriptor. `pending` is left for the owner to fail; no
    /// callback reaches the owner after this.
    func close() {
        guard !isClosed else { return }
        isClosed = true
        if let registration { loop.deregister(registration) }
        registration = nil
        transport.close()
        owner = nil
        output = []
        outputOffset = 0
    }

    /// Queues one request (written at this turn's flush). False, and nothing queued, when the
    /// unsent bytes would pass `maxUnsentBytes` or the socket is closed.
    func queue(_ arguments: RedisArguments) -> Bool {
        guard !isClosed, output.count - outputOffset + arguments.body.count <= Self.maxUnsentBytes else { return false }
        output.append(UInt8(ascii: "*"))
        RedisArguments.appendDecimal(arguments.count, to: &output)
        output.append(13)
        output.append(10)
        output.append(contentsOf: arguments.body)
        if isConnected, !pushback, !flushScheduled {
            flushScheduled = true
            loop.schedule(after: .zero) { [self] in
                flushScheduled = false
                if !isClosed, !pushback { writeOutput() }
            }
        }
        return true
    }

    func handleIO(_ events: IOEvents) {
        guard !isClosed else { return }
        guard isConnected else {
            if !tcpUp {
                // The connect finished, one way or the other.
                let error = SocketIO.pendingError(fd: fd)
                guard error == 0 else { return fail(.connectFailed(error)) }
                tcpUp = true
                // Dead peers behind a silent network are found by TCP keepalive (15 s idle, then
                // three probes 5 s apart: the timing hiredis's redisEnableKeepAlive used).
                SocketIO.setKeepAlive(fd: fd, idle: 15, interval: 5, count: 3)
                SocketIO.setNoDelay(fd: fd)
            }
            if let session {
                switch session.stepHandshake() {
                case .wait:
                    return updateInterest()
                case .established:
                    owner?.logger.debug("redis TLS established", metadata: ["tls": "\(session.negotiated)"])
                case .fail(let reason):
                    return fail(.tls(Self.describe(reason, detail: session.failureDetail)))
                }
            }
            isConnected = true
            updateInterest()
            owner?.socketConnected(self)
            if !isClosed, !output.isEmpty, !pushback { writeOutput() }  // the handshake, queued just now
            return
        }
        let ready = session?.machine.readiness(events) ?? events
        if ready.contains(.readable) || ready.contains(.hangup) {
            readAvailable()
        }
        if !isClosed, ready.contains(.writable) {
            writeOutput()
        }
        if session != nil { updateInterest() }  // a TLS read may wait for writability
    }

    /// An established session failed: a server gone without close_notify (killed, or its host
    /// down) is a close like any other; anything else is a TLS failure with OpenSSL's reason.
    static func sessionFailure(_ session: TLSSession) -> RedisConnectionStateMachine.SocketFailure {
        session.failureReason == .closed ? .closedByPeer : .tls(session.failureDetail)
    }

    /// TCP is up and the TLS handshake is still running.
    var isInTLSHandshake: Bool { session != nil && tcpUp && !isConnected && !isClosed }

    /// A failed client handshake in the operator's words.
    static func describe(_ reason: TLSHandshakeFailure, detail: String) -> String {
        switch reason {
        case .closed:
            return "the server closed the connection during the TLS handshake (\(detail)): is it a TLS port?"
        case .timeout:
            return "TLS handshake not completed in time"
        case .version:
            return "no TLS 1.2 or newer in common, or not a TLS server (\(detail))"
        default:
            return detail.isEmpty ? reason.explanation : detail
        }
    }

    private func updateInterest() {
        guard let registration, !isClosed else { return }
        let own: IOEvents = isConnected ? (pushback ? [.readable, .writable] : .readable) : .writable
        if let session, tcpUp {
            loop.setInterest(session.machine.interest(connection: isConnected ? own : []), for: registration)
        } else {
            loop.setInterest(own, for: registration)
        }
    }

    /// One write attempt of everything unsent; what the socket does not take waits for EPOLLOUT.
    /// Writes what is queued now, rather than at this turn's flush: for a caller that is itself
    /// running at the end of the turn (the store's group commit), whose commands would otherwise
    /// wait one more loop iteration for the flush it scheduled.
    func flushNow() {
        guard !isClosed, isConnected, !pushback, outputOffset < output.count else { return }
        writeOutput()
    }

    private func writeOutput() {
        while outputOffset < output.count {
            let attempt = output.withUnsafeBytes { bytes -> Result<IOResult, IOError> in
                do throws(IOError) {
                    return .success(try transport.write(UnsafeRawBufferPointer(rebasing: bytes[outputOffset...])))
                } catch {
                    return .failure(error)
                }
            }
            let result: IOResult
            switch attempt {
            case .success(let done): result = done
            case .failure(let error): return fail(session.map(Self.sessionFailure) ?? .writeFailed(error.errno))
            }
            switch result {
            case .processed(let n):
                outputOffset += n
            case .wouldBlock:
                // Keep the unsent tail at the front once the sent head is large.
                if outputOffset >= 1 << 16 {
                    output.removeFirst(outputOffset)
                    outputOffset = 0
                }
                if !pushback {
                    pushback = true
                    updateInterest()
                }
                return
            case .eof:
                return fail(.closedByPeer)
            }
        }
        // Drained: keep the buffer for the next turn unless a burst made it large.
        output.removeAll(keepingCapacity: output.capacity <= 1 << 20)
        outputOffset = 0
        if pushback {
            pushback = false
            updateInterest()
        }
    }

    /// Reads what the socket has (a bounded number of buffers per wake-up, so one busy
    /// connection cannot hold the loop) and hands every complete reply to the owner.
    private func readAvailable() {
        let buffer = loop.readBuffer
        for _ in 0..<16 {
            let result: IOResult
            do {
                result = try transport.read(into: buffer)
            } catch {
                // TLS: OpenSSL's reason ("tlsv13 alert certificate required" when the server
                // wants a client certificate we did not send).
                return fail(session.map(Self.sessionFailure) ?? .readFailed(error.errno))
            }
            switch result {
            case .wouldBlock:
                return
            case .eof:
                return fail(.closedByPeer)
            case .processed(let n):
                // The reader copies the bytes: the loop's buffer is free again after this.
                guard reader.feed(UnsafeRawBufferPointer(rebasing: buffer[..<n])) else { return fail(.protocolError) }
                deliverReplies()
                // Plain TCP: a short read drained the socket. TLS reads whole records only, so
                // a short read says nothing: read on until the session would block.
                if isClosed || (session == nil && n < buffer.count) { return }
            }
        }
    }

    private func deliverReplies() {
        while !isClosed, let owner {
            switch reader.next() {
            case .reply(let reply):
                owner.socketReceived(self, reply)
            case .needMore:
                return
            case .failed(let message):
                owner.logger.error("redis sent bytes that are not RESP", metadata: ["error": "\(message)"])
                return fail(.protocolError)
            }
        }
    }

    private func fail(_ failure: RedisConnectionStateMachine.SocketFailure) {
        guard !isClosed, let owner else { return }
        owner.socketFailed(self, failure)
        // The owner drops the socket; if it did not (a stale socket), close it here.
        if !isClosed { close() }
    }
}
