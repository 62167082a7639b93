import Foundation
import XCTest
import SBTestSupport
#if canImport(Glibc)
import Glibc
#endif

/// Connection lifecycle bugs, each against a real switchboard process: pipelining behind
/// `Connection: close`, read resumption after backpressure, half-close while a Redis reply is
/// pending, and running out of file descriptors.
final class ConnectionLifecycleTests: XCTestCase {
    override func setUpWithError() throws {
        try XCTSkipUnless(ServerProcess.isAvailable, "switchboard binary not built")
    }

    static let ts = "2026-11-24T12:00:00Z"

    static func post(_ path: String, _ body: String, extra: String = "") -> String {
        "POST \(path) HTTP/1.1\r\nHost: x\r\n\(extra)Content-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)"
    }

    static func eventCount(port: Int, session: String) throws -> Int? {
        let response = try TestHTTPClient(port: port).request("GET", "/api/events/\(session)")
        return (response.json as? [String: Any])?["count"] as? Int
    }

    /// utime + stime of the whole process, in seconds, from /proc/PID/stat.
    static func cpuSeconds(pid: Int32) -> Double {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return 0 }
        // Fields after "comm)": state is field 3, utime 14, stime 15.
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        guard fields.count > 13, let utime = Double(fields[11]), let stime = Double(fields[12]) else { return 0 }
        return (utime + stime) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    /// CPU used per wall-clock second over `seconds`.
    static func cpuShare(pid: Int32, over seconds: Double) -> Double {
        let before = cpuSeconds(pid: pid)
        Thread.sleep(forTimeInterval: seconds)
        return (cpuSeconds(pid: pid) - before) / seconds
    }

    /// Complete HTTP responses at the start of `bytes` (by Content-Length).
    static func completeResponses(_ bytes: [UInt8]) -> [Int] {
        var statuses: [Int] = []
        var offset = 0
        let separator = Array("\r\n\r\n".utf8)
        while offset < bytes.count {
            guard let headEnd = (offset...(bytes.count - 4)).first(where: { Array(bytes[$0..<$0 + 4]) == separator })
            else { break }
            let head = String(decoding: bytes[offset..<headEnd], as: UTF8.self).lowercased()
            let length = head.split(separator: "\r\n").first { $0.hasPrefix("content-length:") }
                .flatMap { Int($0.dropFirst("content-length:".count).trimmingCharacters(in: .whitespaces)) } ?? 0
            guard headEnd + 4 + length <= bytes.count else { break }
            statuses.append(Int(head.split(separator: " ")[1]) ?? 0)
            offset = headEnd + 4 + length
        }
        return statuses
    }

    // MARK: Connection: close

    func testNothingAfterAConnectionCloseRequestIsExecuted() throws {
        let server = try ServerProcess()
        defer { server.stop() }
        let first = "{\"sessionId\":\"cc-first\",\"type\":\"t\",\"timestamp\":\"\(Self.ts)\"}"
        let second = "{\"sessionId\":\"cc-second\",\"type\":\"t\",\"timestamp\":\"\(Self.ts)\"}"
        let socket = try TestSocket(port: server.port, timeoutSeconds: 5)
        try socket.send(Self.post("/api/events", first, extra: "Connection: close\r\n") + Self.post("/api/events", second))
        let answer = socket.receiveUntilClose()
        XCTAssertEqual(Self.completeResponses(answer), [201], String(decoding: answer, as: UTF8.self))
        XCTAssertEqual(try Self.eventCount(port: server.port, session: "cc-first"), 1)
        XCTAssertEqual(try Self.eventCount(port: server.port, session: "cc-second") ?? 0, 0,
                       "a request pipelined behind Connection: close must not be executed")
    }

    // MARK: Backpressure

    /// A pipelining client that reads slowly fills the send queue past SEND_QUEUE_BYTES; reads
    /// stop, and must start again when the queue drains, or the requests sent meanwhile stall.
    func testReadsResumeWhenTheSendQueueDrains() throws {
        let server = try ServerProcess(environment: ["SEND_QUEUE_BYTES": "65536"])
        defer { server.stop() }
        let http = try TestHTTPClient(port: server.port)
        let blob = String(repeating: "x", count: 250_000)
        for i in 0..<4 {
            XCTAssertEqual(try http.request("POST", "/api/events", json: [
                "sessionId": "bp", "type": "t", "timestamp": Self.ts, "n": i, "data": blob]).status, 201)
        }
        let get = "GET /api/events/bp HTTP/1.1\r\nHost: x\r\n\r\n"
        let socket = try TestSocket(port: server.port, timeoutSeconds: 10, receiveBuffer: 8192)
        // 8 MB of responses: more than the kernel buffers hold (tcp_wmem max is 4 MB), so the
        // server's own queue goes over its limit and it stops reading.
        try socket.send(String(repeating: get, count: 8))
        Thread.sleep(forTimeInterval: 0.5)
        try socket.send(String(repeating: get, count: 4))
        var received: [UInt8] = []
        let deadline = Date().addingTimeInterval(30)
        while Self.completeResponses(received).count < 12, Date() < deadline {
            let chunk = try socket.receive(max: 32768)
            XCTAssertFalse(chunk.isEmpty, "server closed the connection")
            if chunk.isEmpty { break }
            received += chunk
            usleep(1000)  // a slow reader
        }
        XCTAssertEqual(Self.completeResponses(received), Array(repeating: 200, count: 12))
        XCTAssertGreaterThan(received.count, 12 * 1_000_000, "every response carries the four events")
    }

    // MARK: Half-close

    /// The client sends a request and half-closes while the answer waits for Redis: the loop
    /// must not spin meanwhile, and the response still arrives, followed by EOF.
    func testHalfCloseWhileARedisReplyIsPendingDoesNotSpin() throws {
        try XCTSkipUnless(RedisTestServer.isAvailable, "redis-server not installed")
        let redis = try RedisTestServer()
        defer { redis.kill() }
        let server = try ServerProcess(environment: ["REDIS_URL": redis.url])
        defer { server.stop() }
        let event = "{\"sessionId\":\"hc\",\"type\":\"t\",\"timestamp\":\"\(Self.ts)\"}"
        // /health answers before every loop's Redis connection is up: the first event may
        // meet a 503 on a loaded machine, so it is retried until stored (at most 10 s).
        var first = 0
        let until = Date().addingTimeInterval(10)
        repeat {
            first = try TestHTTPClient(port: server.port).request("POST", "/api/events", body: Array(event.utf8)).status
            if first != 201 { Thread.sleep(forTimeInterval: 0.1) }
        } while first == 503 && Date() < until
        XCTAssertEqual(first, 201)

        // Redis holds every command for 1.2 s (well under the 2 s command timeout, so a loaded
        // machine still gets the reply in time).
        XCTAssertTrue(try redis.command(["CLIENT", "PAUSE", "1200"]).contains("OK"))
        let socket = try TestSocket(port: server.port, timeoutSeconds: 5)
        try socket.send(Self.post("/api/events", event))
        socket.shutdownWrite()
        Thread.sleep(forTimeInterval: 0.1)
        let share = Self.cpuShare(pid: server.pid, over: 0.8)
        XCTAssertLessThan(share, 0.3, "the server must not spin while a half-closed client waits")

        var answer: [UInt8] = []
        var sawEOF = false
        while let chunk = try? socket.receive() {
            if chunk.isEmpty { sawEOF = true; break }
            answer += chunk
        }
        XCTAssertEqual(Self.completeResponses(answer), [201], String(decoding: answer, as: UTF8.self))
        XCTAssertTrue(sawEOF, "the connection closes after the response")
        XCTAssertEqual(try Self.eventCount(port: server.port, session: "hc"), 2)
    }

    // MARK: Descriptor exhaustion

    /// Out of descriptors (the limit lowered under a running server), accept4 fails with EMFILE
    /// for every pending connection. The server must not spin or flood its log, and serves again
    /// once connections close.
    func testRunningOutOfDescriptorsDoesNotSpin() throws {
        let server = try ServerProcess()
        defer { server.stop() }
        try Self.run("/usr/bin/prlimit", ["--pid", String(server.pid), "--nofile=128:128"])
        var sockets: [TestSocket] = []
        for _ in 0..<400 { sockets.append(try TestSocket(port: server.port, timeoutSeconds: 5)) }
        Thread.sleep(forTimeInterval: 0.5)
        let share = Self.cpuShare(pid: server.pid, over: 3.0)
        XCTAssertLessThan(share, 0.3, "the server must not spin on EMFILE")
        let log = server.log()
        XCTAssertTrue(log.contains("out of file descriptors"), log)
        let lines = log.split(separator: "\n").filter { $0.contains("accept") || $0.contains("descriptors") || $0.contains("refused") }
        XCTAssertLessThan(lines.count, 20, "warnings are rate-limited:\n\(lines.prefix(30).joined(separator: "\n"))")
        for socket in sockets { socket.close() }
        XCTAssertTrue(waitFor(timeout: 10) {
            (try? TestHTTPClient(port: server.port, timeoutSeconds: 2).request("GET", "/health").status) == 200
        }, "serves again once connections close")
    }

    /// Started with `ulimit -n 256`, MAX_CONNECTIONS is lowered to fit, said at startup, and
    /// connections beyond it get a 503 instead of EMFILE.
    func testMaxConnectionsIsCappedToTheOpenFileLimit() throws {
        let server = try ServerProcess(launcher: ["/bin/sh", "-c", "ulimit -n 256 && exec \"$@\"", "sh"])
        defer { server.stop() }
        let log = server.log()
        let line = log.split(separator: "\n").first { $0.contains("MAX_CONNECTIONS lowered") }
        XCTAssertNotNil(line, log)
        let max = try XCTUnwrap(line.flatMap { text -> Int? in
            guard let to = text.range(of: " to ") else { return nil }
            return Int(text[to.upperBound...].prefix { $0.isNumber })
        })
        XCTAssertLessThan(max, 256)
        var sockets: [TestSocket] = []
        for _ in 0..<(max + 20) { sockets.append(try TestSocket(port: server.port, timeoutSeconds: 5)) }
        Thread.sleep(forTimeInterval: 1)
        // Refused connections got a 503 unasked; admitted ones have nothing to read.
        var refused = 0
        for socket in sockets {
            var buffer = [UInt8](repeating: 0, count: 512)
            let n = buffer.withUnsafeMutableBytes { recv(socket.fd, $0.baseAddress, 512, Int32(MSG_DONTWAIT)) }
            if n > 0, String(decoding: buffer[0..<n], as: UTF8.self).hasPrefix("HTTP/1.1 503") { refused += 1 }
        }
        XCTAssertEqual(refused, 20, "exactly the connections beyond MAX_CONNECTIONS (\(max)) get 503")
        let refusal = server.log().split(separator: "\n").first { $0.contains("connection refused") }.map(String.init) ?? ""
        XCTAssertTrue(refusal.contains("open-file limit (RLIMIT_NOFILE 256) is reached, not MAX_CONNECTIONS"),
                      "the log says the file limit, not MAX_CONNECTIONS, refused them: \(refusal)")
        XCTAssertLessThan(Self.cpuShare(pid: server.pid, over: 1.0), 0.3)
        for socket in sockets { socket.close() }
        XCTAssertTrue(waitFor(timeout: 10) {
            (try? TestHTTPClient(port: server.port, timeoutSeconds: 2).request("GET", "/health").status) == 200
        })
    }

    static func run(_ path: String, _ arguments: [String]) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw TestError("\(path) \(arguments) exited \(process.terminationStatus)") }
    }
}
