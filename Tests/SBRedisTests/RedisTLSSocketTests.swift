import Foundation
import Glibc
import Logging
import SBCore
import SBEventLoop
@testable import SBRedis
import SBTLS
import SBTestSupport
import XCTest

/// The connection's socket through a client TLS session against a real redis-server on its
/// TLS port (certificates made with the openssl CLI for this test): 8 MB each way, so writes
/// meet the socket's pushback mid-record (OpenSSL's retry rule, a moving buffer) and replies
/// span many records, with small commands around them in order.
final class RedisTLSSocketTests: XCTestCase {
    private var directory: URL!

    override func setUpWithError() throws {
        try XCTSkipUnless(RedisTestServer.isAvailable, "redis-server not installed")
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("redis-tls-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        if let directory { try? FileManager.default.removeItem(at: directory) }
    }

    private func openssl(_ arguments: [String]) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        process.arguments = arguments
        process.currentDirectoryURL = directory
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw TestError("openssl \(arguments.first ?? "") failed") }
    }

    /// A CA and a leaf for 127.0.0.1 signed by it: (ca, cert, key) paths.
    private func makeCertificates() throws -> (String, String, String) {
        try openssl(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "ca.key",
                     "-out", "ca.pem", "-days", "2", "-subj", "/CN=RedisTLSSocketTests CA",
                     "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"])
        try "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth,clientAuth\nsubjectAltName=IP:127.0.0.1\n"
            .write(to: directory.appendingPathComponent("leaf.ext"), atomically: true, encoding: .utf8)
        try openssl(["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "leaf.key",
                     "-out", "leaf.csr", "-subj", "/CN=127.0.0.1"])
        try openssl(["x509", "-req", "-in", "leaf.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
                     "-out", "leaf.pem", "-days", "2", "-extfile", "leaf.ext"])
        let path = { (name: String) in self.directory.appendingPathComponent(name).path }
        return (path("ca.pem"), path("leaf.pem"), path("leaf.key"))
    }

    func testLargeRequestsAndRepliesCrossATLSSessionInPiecesAndStayInOrder() throws {
        let (ca, cert, key) = try makeCertificates()
        let tlsPort = FreePort.find()
        // The plain port stays open for the test server's own readiness check.
        let redis = try RedisTestServer(extraArguments: ["--tls-port", String(tlsPort), "--tls-cert-file", cert,
                                                         "--tls-key-file", key, "--tls-ca-cert-file", ca, "--tls-auth-clients", "no"])
        defer { redis.kill(signal: SIGKILL) }
        let settings = RedisTLSSettings(context: try TLSClientContext(caFile: ca, certificateFile: nil, keyFile: nil, variablePrefix: "REDIS_TLS"),
                                        serverName: nil)
        var url = try RedisURL(parsing: "rediss://127.0.0.1:\(tlsPort)")
        url.tls = settings
        let group = try EventLoopGroup(count: 1)
        group.start()
        defer { group.stopAll(); group.waitUntilStopped() }
        let loop = group.loops[0]
        let connection = RedisConnection(loop: loop, url: url, logger: Logger(label: "t"), commandTimeout: .seconds(10))
        loop.execute { connection.start() }
        XCTAssertTrue(waitFor(timeout: 10) { connection.isReady })

        let big = [UInt8]((0..<(8 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ $0 >> 13) })
        XCTAssertEqual(RedisSocketTests.bigRoundTrip(connection, on: loop, big: big, timeout: 30),
                       ["1 status(\"OK\")", "2 status(\"OK\")", "3 same 8 MB", "4 integer(2)"])
        XCTAssertNotEqual(tlsPort, redis.port, "the port speaks only TLS: nothing plain reached it")
        loop.execute { connection.close() }
    }
}
