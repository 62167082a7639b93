import Foundation
import XCTest
@testable import SBTLS

/// The client context of `rediss://` refuses bad files with a message naming the variable and
/// the path (the start stops on it; a SIGHUP keeps the previous context). The handshakes
/// themselves run against a real TLS redis-server in Tests/python/test_redis_tls.py.
final class TLSClientContextTests: XCTestCase {
    private var directory: URL!

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("sbtls-client-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: directory)
    }

    private func load(ca: String? = nil, cert: String? = nil, key: String? = nil) -> String? {
        do {
            _ = try TLSClientContext(caFile: ca, certificateFile: cert, keyFile: key, variablePrefix: "REDIS_TLS")
            return nil
        } catch {
            return error.description
        }
    }

    func testTheSystemStoreLoadsWithoutFiles() {
        XCTAssertNil(load())
    }

    func testBadFilesAreNamed() throws {
        let missing = directory.appendingPathComponent("missing.pem").path
        XCTAssertEqual(load(ca: missing)?.hasPrefix("REDIS_TLS_CA_FILE \(missing): cannot open"), true)
        let garbage = directory.appendingPathComponent("garbage.pem")
        try Data("not a certificate\n".utf8).write(to: garbage)
        XCTAssertEqual(load(ca: garbage.path)?.hasPrefix("REDIS_TLS_CA_FILE \(garbage.path): no usable PEM CA certificate"), true)
        XCTAssertEqual(load(cert: garbage.path)?.hasPrefix("REDIS_TLS_CERT_FILE and REDIS_TLS_KEY_FILE must be set together"), true)
        XCTAssertEqual(load(cert: garbage.path, key: garbage.path)?.hasPrefix("REDIS_TLS_CERT_FILE \(garbage.path): no usable PEM certificate"), true)
        XCTAssertEqual(load(cert: garbage.path, key: missing)?.hasPrefix("REDIS_TLS_KEY_FILE \(missing): cannot open"), true)
    }

    func testAClientSessionNeedsAName() throws {
        let context = try TLSClientContext(caFile: nil, certificateFile: nil, keyFile: nil, variablePrefix: "REDIS_TLS")
        XCTAssertTrue(TLSSession.isIPAddress("127.0.0.1"))
        XCTAssertTrue(TLSSession.isIPAddress("::1"))
        XCTAssertFalse(TLSSession.isIPAddress("redis.example.com"))
        // A session on a fresh socket: made, then freed without I/O.
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        let session = try XCTUnwrap(TLSSession(client: context, fd: fd, serverName: "redis.example.com", now: 0, handshakeTimeout: 1))
        XCTAssertFalse(session.isEstablished)
        session.close()
    }
}
