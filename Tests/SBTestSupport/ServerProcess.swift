public import Foundation
#if canImport(Glibc)
public import Glibc
#endif

/// A real `switchboard` process on a free loopback port, stopped by PID.
public final class ServerProcess: @unchecked Sendable {
    public let port: Int
    public let process: Process
    public let logURL: URL
    public private(set) var exitStatus: Int32?

    /// The binary under test: `SWITCHBOARD_BIN` (set by Scripts/test.sh) or the debug build.
    public static var binaryPath: String {
        if let path = ProcessInfo.processInfo.environment["SWITCHBOARD_BIN"], !path.isEmpty { return path }
        let cwd = FileManager.default.currentDirectoryPath
        for candidate in [".build/debug/switchboard", ".build/x86_64-unknown-linux-gnu/debug/switchboard"] {
            let path = cwd + "/" + candidate
            if FileManager.default.isExecutableFile(atPath: path) { return path }
        }
        return cwd + "/.build/debug/switchboard"
    }

    public static var isAvailable: Bool { FileManager.default.isExecutableFile(atPath: binaryPath) }

    /// `launcher` runs the binary through another command that ends in `exec "$@"` (e.g. a shell
    /// that lowers `ulimit -n` first); the binary and its arguments are appended to it.
    /// Without `port` it takes a free one; should another process bind it between the look-up and
    /// the server's own bind (the server then exits with EADDRINUSE), it tries another port.
    public init(environment: [String: String] = [:], arguments: [String] = [], port: Int? = nil,
                launcher: [String] = []) throws {
        var attempt = 0
        while true {
            attempt += 1
            let candidate = port ?? FreePort.find()
            let (process, logURL) = try Self.launch(environment: environment, arguments: arguments, port: candidate, launcher: launcher)
            let ready = waitFor(timeout: 20) {
                !process.isRunning || (try? TestHTTPClient(port: candidate, timeoutSeconds: 2).request("GET", "/health").status) == 200
            }
            if ready && process.isRunning {
                self.port = candidate
                self.process = process
                self.logURL = logURL
                return
            }
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
            process.waitUntilExit()
            ChildReaper.forget(process.processIdentifier)
            let log = (try? String(contentsOf: logURL, encoding: .utf8)) ?? ""
            try? FileManager.default.removeItem(at: logURL)
            if port == nil, attempt < 5, log.contains("Address already in use") { continue }
            throw TestError("switchboard did not become healthy on port \(candidate): \(log)")
        }
    }

    private static func launch(environment: [String: String], arguments: [String], port: Int,
                               launcher: [String]) throws -> (Process, URL) {
        let process = Process()
        let serverArguments = ["--host", "127.0.0.1", "--port", String(port)] + arguments
        if let command = launcher.first {
            process.executableURL = URL(fileURLWithPath: command)
            process.arguments = Array(launcher.dropFirst()) + [Self.binaryPath] + serverArguments
        } else {
            process.executableURL = URL(fileURLWithPath: Self.binaryPath)
            process.arguments = serverArguments
        }
        var env = ProcessInfo.processInfo.environment
        for key in ["PORT", "HOST", "REDIS_URL", "API_KEY", "AFW_API_KEY", "ALLOWED_ORIGINS"] { env[key] = nil }
        env["LOG_LEVEL"] = env["SWITCHBOARD_TEST_LOG_LEVEL"] ?? "info"
        for (key, value) in environment { env[key] = value }
        process.environment = env
        // Run where no stray .env can change the configuration.
        process.currentDirectoryURL = URL(fileURLWithPath: NSTemporaryDirectory())
        let logURL = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("switchboard-\(port)-\(UUID().uuidString.prefix(6)).log")
        _ = FileManager.default.createFile(atPath: logURL.path, contents: nil)
        let logHandle = try FileHandle(forWritingTo: logURL)
        process.standardOutput = logHandle
        process.standardError = logHandle
        try process.run()
        ChildReaper.track(process.processIdentifier)
        return (process, logURL)
    }

    public var pid: Int32 { process.processIdentifier }

    public func log() -> String {
        (try? String(contentsOf: logURL, encoding: .utf8)) ?? ""
    }

    public func signal(_ signal: Int32) {
        if process.isRunning { kill(process.processIdentifier, signal) }
    }

    /// Waits for the process to exit by itself; nil if it is still running after `timeout`.
    public func waitForExit(timeout: TimeInterval) -> Int32? {
        guard waitFor(timeout: timeout, { !self.process.isRunning }) else { return nil }
        process.waitUntilExit()
        ChildReaper.forget(process.processIdentifier)
        exitStatus = process.terminationStatus
        return exitStatus
    }

    /// Sends `signal` and waits for exit (SIGKILL after `timeout`). Returns the exit status.
    @discardableResult
    public func stop(signal: Int32 = SIGTERM, timeout: TimeInterval = 15) -> Int32 {
        if let exitStatus { return exitStatus }
        if process.isRunning {
            kill(process.processIdentifier, signal)
            if !waitFor(timeout: timeout, { !self.process.isRunning }) {
                kill(process.processIdentifier, SIGKILL)
                process.waitUntilExit()
            }
        }
        process.waitUntilExit()
        ChildReaper.forget(process.processIdentifier)
        exitStatus = process.terminationStatus
        return process.terminationStatus
    }

    deinit {
        if process.isRunning { kill(process.processIdentifier, SIGKILL); process.waitUntilExit() }
        try? FileManager.default.removeItem(at: logURL)
    }
}
