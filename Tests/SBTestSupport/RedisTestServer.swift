public import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A real `redis-server` on a free loopback port, started for a test and stopped by PID.
/// With `appendOnly`, data lives in `directory` so a restart (same port, same files) finds it.
public final class RedisTestServer: @unchecked Sendable {
    public private(set) var port: Int
    public private(set) var directory: URL
    public let appendOnly: Bool
    private var process: Process?

    public static var isAvailable: Bool {
        FileManager.default.isExecutableFile(atPath: "/usr/bin/redis-server")
    }

    public var url: String { "redis://127.0.0.1:\(port)" }

    /// redis-server exited while starting: on a fresh port, most likely another process bound it
    /// between the look-up and redis-server's own bind.
    struct ExitedAtStart: Error {}

    public init(appendOnly: Bool = false, extraArguments: [String] = []) throws {
        self.appendOnly = appendOnly
        self.extraArguments = extraArguments
        port = 0
        directory = URL(fileURLWithPath: NSTemporaryDirectory())
        for attempt in 1... {
            port = FreePort.find()
            directory = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("redis-test-\(port)-\(UUID().uuidString.prefix(6))")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            do {
                try start()
                return
            } catch is ExitedAtStart where attempt < 5 {
                try? FileManager.default.removeItem(at: directory)
            }
        }
    }

    private let extraArguments: [String]

    /// Starts redis-server on `port` (again, after `kill`) and returns once it answers. The
    /// answer must come from this process (its pid in INFO), not from another server on the port.
    public func start() throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/redis-server")
        p.arguments = ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--dir", directory.path,
                       "--appendonly", appendOnly ? "yes" : "no", "--appendfsync", "always", "--daemonize", "no"] + extraArguments
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        process = p
        ChildReaper.track(p.processIdentifier)
        let pid = p.processIdentifier
        let answered = waitFor(timeout: 10) { !p.isRunning || self.answers(asProcess: pid) }
        guard answered, p.isRunning else {
            if !p.isRunning {
                p.waitUntilExit()
                ChildReaper.forget(pid)
                throw ExitedAtStart()
            }
            kill(signal: SIGKILL)
            throw TestError("redis-server did not start on port \(port)")
        }
    }

    /// True when the server on `port` answers and is `pid` (a server with a password answers
    /// NOAUTH: then only that it answers is known).
    private func answers(asProcess pid: Int32) -> Bool {
        guard let reply = try? command(["INFO", "server"]) else { return false }
        if reply.contains("NOAUTH") { return true }
        guard let range = reply.range(of: "process_id:") else { return false }
        let digits = reply[range.upperBound...].prefix { $0.isNumber }
        return Int32(digits) == pid
    }

    public var pid: Int32 { process?.processIdentifier ?? 0 }

    /// Stops the server by PID (SIGKILL simulates a crash; SIGTERM a clean stop).
    public func kill(signal: Int32 = SIGTERM) {
        guard let process, process.isRunning else { return }
        Glibc.kill(process.processIdentifier, signal)
        process.waitUntilExit()
        ChildReaper.forget(process.processIdentifier)
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
        kill(signal: SIGKILL)
        try? FileManager.default.removeItem(at: directory)
    }
}
