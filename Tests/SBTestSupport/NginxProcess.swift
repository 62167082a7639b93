public import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A real nginx on a free loopback port, load-balancing HTTP and WebSocket upgrades across
/// `upstreams`, started for a test and stopped by PID.
public final class NginxProcess: @unchecked Sendable {
    public private(set) var port = 0
    private var process = Process()
    private var directory = URL(fileURLWithPath: NSTemporaryDirectory())

    public static var isAvailable: Bool { FileManager.default.isExecutableFile(atPath: "/usr/sbin/nginx") }

    /// On a free port; should another process bind it first (nginx then exits), on another.
    public init(upstreams: [Int]) throws {
        for attempt in 1... {
            if try start(upstreams: upstreams, port: FreePort.find()) { return }
            try? FileManager.default.removeItem(at: directory)
            if attempt == 5 { throw TestError("nginx exited at start five times (ports taken?)") }
        }
    }

    /// False when nginx exited at start (its port was taken).
    private func start(upstreams: [Int], port: Int) throws -> Bool {
        self.port = port
        process = Process()
        directory = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("nginx-test-\(port)")
        try FileManager.default.createDirectory(at: directory.appendingPathComponent("logs"), withIntermediateDirectories: true)
        let d = directory.path
        let servers = upstreams.map { "        server 127.0.0.1:\($0) max_fails=1 fail_timeout=2s;" }.joined(separator: "\n")
        let conf = """
        worker_processes 1;
        pid \(d)/nginx.pid;
        error_log \(d)/logs/error.log warn;
        events { worker_connections 2048; }
        http {
            access_log off;
            client_body_temp_path \(d)/body;
            proxy_temp_path \(d)/proxy;
            fastcgi_temp_path \(d)/fastcgi;
            uwsgi_temp_path \(d)/uwsgi;
            scgi_temp_path \(d)/scgi;
            map $http_upgrade $connection_upgrade { default upgrade; '' ''; }
            upstream switchboard {
        \(servers)
            }
            server {
                listen 127.0.0.1:\(port);
                location / {
                    proxy_pass http://switchboard;
                    proxy_http_version 1.1;
                    proxy_set_header Upgrade $http_upgrade;
                    proxy_set_header Connection $connection_upgrade;
                    proxy_set_header Host $host;
                    proxy_read_timeout 3600s;
                    proxy_next_upstream error timeout http_503;
                }
            }
        }
        """
        try conf.write(to: directory.appendingPathComponent("nginx.conf"), atomically: true, encoding: .utf8)
        process.executableURL = URL(fileURLWithPath: "/usr/sbin/nginx")
        process.arguments = ["-c", "\(d)/nginx.conf", "-p", d, "-g", "daemon off;"]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        ChildReaper.track(process.processIdentifier)
        let process = process
        let answered = waitFor(timeout: 10) {
            !process.isRunning || (try? TestHTTPClient(port: port, timeoutSeconds: 2).request("GET", "/health").status) == 200
        }
        if !process.isRunning {
            process.waitUntilExit()
            ChildReaper.forget(process.processIdentifier)
            return false
        }
        guard answered else {
            stop()
            throw TestError("nginx did not start on port \(port)")
        }
        return true
    }

    public func stop() {
        if process.isRunning {
            kill(process.processIdentifier, SIGTERM)
            process.waitUntilExit()
        }
        ChildReaper.forget(process.processIdentifier)
    }

    deinit {
        stop()
        try? FileManager.default.removeItem(at: directory)
    }
}
