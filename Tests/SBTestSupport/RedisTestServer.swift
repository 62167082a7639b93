public import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A real `redis-server` on a free loopback port, started for a test and stopped by PID. The
/// launcher is `Tests/python/redis_server.py` run as a command (the suite's one Redis launcher:
/// port, retries and readiness live there): it prints the port and PID, restarts or kills the
/// server when asked on its stdin, and stops it when its stdin closes, however this process ends.
/// With `appendOnly`, data lives in the launcher's directory so a restart (same port, same files)
/// finds it.
public final class RedisTestServer: @unchecked Sendable {
    public let port: Int
    public private(set) var pid: Int32
    private let launcher: Process
    private let commands: Pipe
    private let replies: Pipe

    static let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("python/redis_server.py").path

    public static var isAvailable: Bool {
        FileManager.default.isExecutableFile(atPath: "/usr/bin/redis-server")
            && FileManager.default.isExecutableFile(atPath: "/usr/bin/python3")
    }

    public var url: String { "redis://127.0.0.1:\(port)" }

    public init(appendOnly: Bool = false, extraArguments: [String] = []) throws {
        let launcher = Process(), commands = Pipe(), replies = Pipe()
        launcher.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        launcher.arguments = [Self.script] + (appendOnly ? ["--appendonly"] : []) + ["--"] + extraArguments
        launcher.standardInput = commands
        launcher.standardOutput = replies
        try launcher.run()
        (self.launcher, self.commands, self.replies) = (launcher, commands, replies)
        let started = try Self.reply(from: replies, of: launcher)
        guard let port = started["port"] as? Int, let pid = started["pid"] as? Int else {
            throw TestError("redis_server.py did not start redis-server: \(started)")
        }
        self.port = port
        self.pid = Int32(pid)
        // Should this process end without deinit, the server is killed by its PID at exit (and
        // the launcher, its stdin closed, removes the files).
        ChildReaper.track(self.pid)
    }

    /// One answer line from the launcher, parsed.
    private static func reply(from replies: Pipe, of launcher: Process) throws -> [String: Any] {
        var line: [UInt8] = []
        var byte: UInt8 = 0
        let fd = replies.fileHandleForReading.fileDescriptor
        while true {
            let n = read(fd, &byte, 1)
            if n < 0, errno == EINTR { continue }
            guard n == 1 else { throw TestError("redis_server.py exited (status \(launcher.isRunning ? -1 : launcher.terminationStatus))") }
            if byte == 10 { break }
            line.append(byte)
        }
        guard let object = try JSONSerialization.jsonObject(with: Data(line)) as? [String: Any] else {
            throw TestError("redis_server.py said \(String(decoding: line, as: UTF8.self))")
        }
        if let error = object["error"] { throw TestError("redis_server.py: \(error)") }
        return object
    }

    private func ask(_ command: String) throws -> [String: Any] {
        try commands.fileHandleForWriting.write(contentsOf: Data((command + "\n").utf8))
        return try Self.reply(from: replies, of: launcher)
    }

    /// Starts redis-server again on `port` (after `kill`) and returns once it answers.
    public func start() throws {
        guard let pid = try ask("start")["pid"] as? Int else { throw TestError("redis_server.py did not restart redis-server") }
        self.pid = Int32(pid)
        ChildReaper.track(self.pid)
    }

    /// Stops the server by PID and waits for it (SIGKILL simulates a crash; SIGTERM a clean stop).
    public func kill(signal: Int32 = SIGTERM) {
        guard pid != 0 else { return }
        _ = try? ask("kill \(signal)")
        ChildReaper.forget(pid)
        pid = 0
    }

    /// Sends one command in RESP and returns the raw reply text (enough for tests).
    @discardableResult
    public func command(_ args: [String], password: String? = nil, db: Int? = nil) throws -> String {
        let socket = try TestSocket(port: port, timeoutSeconds: 5)
        defer { socket.close() }
        var payload = ""
        let setup = (password.map { [["AUTH", $0]] } ?? []) + (db.map { [["SELECT", String($0)]] } ?? [])
        for command in setup + [args] {
            payload += "*\(command.count)\r\n" + command.map { "$\($0.utf8.count)\r\n\($0)\r\n" }.joined()
        }
        try socket.send(payload)
        var reply: [UInt8] = []
        let deadline = Date().addingTimeInterval(5)
        while Date() < deadline {
            let chunk = try socket.receive()
            if chunk.isEmpty { break }
            reply += chunk
            if Self.isComplete(reply, replies: setup.count + 1) { break }
        }
        return String(decoding: reply, as: UTF8.self)
    }

    /// Rough completeness check for simple replies, bulk strings and flat arrays.
    static func isComplete(_ bytes: [UInt8], replies: Int) -> Bool {
        var i = 0
        var remaining = replies
        func line() -> String? {
            guard let end = bytes[i...].firstRange(of: [13, 10]) else { return nil }
            let text = String(decoding: bytes[i..<end.lowerBound], as: UTF8.self)
            i = end.upperBound
            return text
        }
        func value() -> Bool {
            guard let head = line(), let kind = head.first else { return false }
            let n = Int(head.dropFirst()) ?? 0
            switch kind {
            case "$":
                if n < 0 { return true }
                guard bytes.count >= i + n + 2 else { return false }
                i += n + 2
                return true
            case "*":
                for _ in 0..<max(n, 0) where !value() { return false }
                return true
            default:
                return true
            }
        }
        while remaining > 0 {
            guard value() else { return false }
            remaining -= 1
        }
        return true
    }

    deinit {
        // EOF on its stdin: the launcher stops redis-server by PID and removes its files.
        try? commands.fileHandleForWriting.close()
        launcher.waitUntilExit()
        ChildReaper.forget(pid)
    }
}
