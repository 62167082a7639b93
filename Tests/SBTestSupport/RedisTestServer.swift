public import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A real `redis-server` on a free loopback port, started for a test and stopped by PID.
/// With `appendOnly`, data lives in `directory` so a restart (same port, same files) finds it.
public final class RedisTestServer: @unchecked Sendable {
    public let port: Int
    public let directory: URL
    public let appendOnly: Bool
    private var process: Process?

    public static var isAvailable: Bool {
        FileManager.default.isExecutableFile(atPath: "/usr/bin/redis-server")
    }

    public var url: String { "redis://127.0.0.1:\(port)" }

    public init(appendOnly: Bool = false, extraArguments: [String] = []) throws {
        port = FreePort.find()
        directory = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("redis-test-\(port)-\(UUID().uuidString.prefix(6))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        self.appendOnly = appendOnly
        self.extraArguments = extraArguments
        try start()
    }

    private let extraArguments: [String]

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
        guard waitFor(timeout: 10, { (try? self.command(["PING"])).map { $0.contains("PONG") || $0.contains("NOAUTH") } ?? false }) else {
            kill(signal: SIGKILL)
            throw TestError("redis-server did not start on port \(port)")
        }
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
