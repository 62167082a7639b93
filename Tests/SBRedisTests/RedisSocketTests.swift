import Foundation
import Glibc
import Logging
import SBCore
import SBEventLoop
@testable import SBRedis
import SBTestSupport
import XCTest

/// A scripted stand-in for Redis on a loopback port: each accepted connection plays `script`
/// (wait until the request bytes contain `expect`, then send `answer`), then stays open until
/// the client closes it. It exists to send what a real Redis never does (bytes that are not
/// RESP, a reply nobody asked for). Stopped by closing its socket; its threads end with it.
final class ScriptedRedis: @unchecked Sendable {
    typealias Step = (expect: String, answer: String)
    let port: Int
    private let listener: Int32
    private let script: [Step]
    private let accepted = Locked(0)

    init(port: Int = 0, script: [Step]) throws {
        self.script = script
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(fd, 16) == 0 else {
            Glibc.close(fd)
            throw TestError("cannot listen on \(port)")
        }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        listener = fd
        self.port = Int(UInt16(bigEndian: address.sin_port))
        let listener = fd
        Thread.detachNewThread { [self] in
            while true {
                let client = accept(listener, nil, nil)
                guard client >= 0 else { return }
                accepted.withLock { $0 += 1 }
                Thread.detachNewThread { [self] in play(client) }
            }
        }
    }

    var connections: Int { accepted.withLock { $0 } }

    private func play(_ client: Int32) {
        defer { Glibc.close(client) }
        var received = ""
        var buffer = [UInt8](repeating: 0, count: 4096)
        for step in script {
            while !received.contains(step.expect) {
                let n = read(client, &buffer, buffer.count)
                guard n > 0 else { return }
                received += String(decoding: buffer[..<n], as: UTF8.self)
            }
            received = ""
            _ = step.answer.withCString { write(client, $0, strlen($0)) }
        }
        while read(client, &buffer, buffer.count) > 0 {}
    }

    func stop() {
        shutdown(listener, Int32(SHUT_RDWR))
        Glibc.close(listener)
    }
}

/// The connection's own socket against real and scripted servers: replies split over many reads,
/// a request larger than the socket takes at once, bytes that are not RESP, a reply nobody
/// asked for, a refused connect.
final class RedisSocketTests: XCTestCase {
    final class Outcomes: @unchecked Sendable {
        let values = Locked<[String]>([])
        func add(_ value: String) { values.withLock { $0.append(value) } }
        var all: [String] { values.withLock { $0 } }
    }

    static func describe(_ result: Result<RedisReply, RedisError>) -> String {
        switch result {
        case .success(.string(let bytes)): "string \(bytes.count)"
        case .success(let reply): "\(reply)"
        case .failure(let error): "failure \(error)"
        }
    }

    func testLargeRequestsAndRepliesCrossTheSocketInPiecesAndStayInOrder() throws {
        try XCTSkipUnless(RedisTestServer.isAvailable, "redis-server not installed")
        let redis = try RedisTestServer()
        defer { redis.kill(signal: SIGKILL) }
        let group = try EventLoopGroup(count: 1)
        group.start()
        defer { group.stopAll(); group.waitUntilStopped() }
        let loop = group.loops[0]
        let connection = RedisConnection(loop: loop, url: try RedisURL(parsing: redis.url), logger: Logger(label: "t"),
                                         commandTimeout: .seconds(10))
        loop.execute { connection.start() }
        XCTAssertTrue(waitFor(timeout: 10) { connection.isReady })

        XCTAssertEqual(Self.bigRoundTrip(connection, on: loop, big: [UInt8](repeating: UInt8(ascii: "x"), count: 8 << 20), timeout: 20),
                       ["1 status(\"OK\")", "2 status(\"OK\")", "3 same 8 MB", "4 integer(2)"])
        loop.execute { connection.close() }
    }

    /// 8 MB one way (more than a socket buffer takes: the rest waits for EPOLLOUT) and back
    /// (many reads, one reply), between small commands that must keep their order: the four
    /// outcomes, once all arrived (or what arrived by `timeout`). Plain TCP and TLS both run it.
    static func bigRoundTrip(_ connection: RedisConnection, on loop: EventLoop, big: [UInt8], timeout: TimeInterval) -> [String] {
        let outcomes = Outcomes()
        loop.execute {
            connection.send("SET", "small", "1") { outcomes.add("1 \(describe($0))") }
            var set: RedisArguments = ["SET", "big"]
            set.append(big)
            connection.send(set) { outcomes.add("2 \(describe($0))") }
            connection.send("GET", "big") { result in
                if case .success(.string(let bytes)) = result, bytes == big { outcomes.add("3 same 8 MB") } else { outcomes.add("3 \(describe(result))") }
            }
            connection.send("INCR", "small") { outcomes.add("4 \(describe($0))") }
        }
        _ = waitFor(timeout: timeout) { outcomes.all.count == 4 }
        return outcomes.all
    }

    func testBytesThatAreNotRESPDropTheConnectionWhichReconnects() throws {
        // First connection: ready, then "GET" gets garbage. Later ones: ready and stay.
        let server = try ScriptedRedis(script: [("PING", "+PONG\r\n"), ("GET", "?not resp\r\n")])
        defer { server.stop() }
        let (group, connection) = try start(port: server.port)
        defer { group.stopAll(); group.waitUntilStopped() }
        XCTAssertTrue(waitFor(timeout: 10) { connection.isReady })
        let outcomes = Outcomes()
        group.loops[0].execute { connection.send("GET", "k") { outcomes.add(Self.describe($0)) } }
        XCTAssertTrue(waitFor(timeout: 5) { outcomes.all == ["failure disconnected"] }, "\(outcomes.all)")
        XCTAssertTrue(waitFor(timeout: 10) { server.connections >= 2 && connection.isReady }, "reconnects after the backoff")
        XCTAssertGreaterThanOrEqual(connection.reconnects, 1)
    }

    func testAReplyNoCommandAskedForDropsTheConnection() throws {
        // After PONG the server sends one more reply nobody asked for.
        let server = try ScriptedRedis(script: [("PING", "+PONG\r\n+SURPRISE\r\n")])
        defer { server.stop() }
        let (group, connection) = try start(port: server.port)
        defer { group.stopAll(); group.waitUntilStopped() }
        XCTAssertTrue(waitFor(timeout: 10) { server.connections >= 3 }, "every connection is dropped and tried again")
    }

    func testARefusedConnectIsRetriedUntilAServerListens() throws {
        let port = FreePort.find()
        let (group, connection) = try start(port: port)
        defer { group.stopAll(); group.waitUntilStopped() }
        // The first connect was refused and the connection waits out its backoff.
        XCTAssertTrue(waitFor(timeout: 5) { Self.state(of: connection, on: group.loops[0]) == .waiting }, "a refused connect backs off")
        XCTAssertFalse(connection.isReady, "nothing listens yet")
        let server = try ScriptedRedis(port: port, script: [("PING", "+PONG\r\n")])
        defer { server.stop() }
        XCTAssertTrue(waitFor(timeout: 10) { connection.isReady }, "the backoff tries again and finds it")
    }

    /// The connection's state machine's state, read on its loop.
    private static func state(of connection: RedisConnection, on loop: EventLoop) -> RedisConnectionStateMachine.State {
        let state = Locked(RedisConnectionStateMachine.State.idle)
        let read = DispatchSemaphore(value: 0)
        loop.execute { state.withLock { $0 = connection.machine.state }; read.signal() }
        read.wait()
        return state.withLock { $0 }
    }

    private func start(port: Int) throws -> (EventLoopGroup, RedisConnection) {
        let group = try EventLoopGroup(count: 1)
        group.start()
        let connection = RedisConnection(loop: group.loops[0], url: RedisURL(host: "127.0.0.1", port: port), logger: Logger(label: "t"))
        group.loops[0].execute { connection.start() }
        return (group, connection)
    }
}
