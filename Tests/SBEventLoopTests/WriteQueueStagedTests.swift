import SBCore
import XCTest
@testable import SBEventLoop

/// The write queue through a one-buffer-per-call transport (TLS): small chunks gathered into
/// one call, large ones passed as they are, and after a `.wouldBlock` the next call starts with
/// the same bytes and is no shorter (OpenSSL's write retry rule), whatever was queued meanwhile.
final class WriteQueueStagedTests: XCTestCase {
    /// A transport that answers from a script: nil = would block, n = takes at most n bytes.
    final class ScriptedSink {
        var script: [Int?]
        var calls: [[UInt8]] = []
        var received: [UInt8] = []
        init(_ script: [Int?]) { self.script = script }

        func write(_ bytes: UnsafeRawBufferPointer) -> IOResult {
            calls.append(Array(bytes))
            let step = script.isEmpty ? Int.max : script.removeFirst()
            guard let limit = step else { return .wouldBlock }
            let n = min(limit, bytes.count)
            received.append(contentsOf: bytes.prefix(n))
            return .processed(n)
        }
    }

    static func chunk(_ value: UInt8, _ count: Int) -> [UInt8] {
        (0..<count).map { value &+ UInt8(truncatingIfNeeded: $0) }
    }

    func testSmallChunksAreGatheredIntoOneCall() {
        let staging = UnsafeMutableRawBufferPointer.allocate(byteCount: 64, alignment: 16)
        defer { staging.deallocate() }
        var queue = WriteQueue()
        let parts = [Self.chunk(0, 10), Self.chunk(50, 20), Self.chunk(100, 5)]
        queue.append(parts[0])
        queue.append(SharedBytes(parts[1]))
        queue.append(parts[2])
        let sink = ScriptedSink([])
        XCTAssertEqual(queue.flush(staging: staging) { sink.write($0) }, .drained)
        XCTAssertEqual(sink.calls.count, 1)
        XCTAssertEqual(sink.received, parts.flatMap { $0 })
        XCTAssertTrue(queue.isEmpty)
    }

    func testLargeHeadChunkGoesDirectlyAndStagingIsCappedAtItsSize() {
        let staging = UnsafeMutableRawBufferPointer.allocate(byteCount: 16, alignment: 16)
        defer { staging.deallocate() }
        var queue = WriteQueue()
        let parts = [Self.chunk(1, 40), Self.chunk(2, 10), Self.chunk(3, 10)]
        for part in parts { queue.append(part) }
        let sink = ScriptedSink([16, 16, 16, 16, 16])  // one "record" of at most 16 bytes per call
        XCTAssertEqual(queue.flush(staging: staging) { sink.write($0) }, .drained)
        XCTAssertEqual(sink.received, parts.flatMap { $0 })
        // The 40-byte head is passed as it is while 16 or more of it are left (40, then 24);
        // its last 8 bytes and the small chunks are staged, 16 bytes at most per call.
        XCTAssertEqual(sink.calls.map(\.count), [40, 24, 16, 12])
    }

    func testRetryAfterWouldBlockStartsWithTheSameBytesAndIsNoShorter() {
        let staging = UnsafeMutableRawBufferPointer.allocate(byteCount: 32, alignment: 16)
        defer { staging.deallocate() }
        // Rows: what is queued before each flush, and the sink's answers during that flush.
        let rows: [(append: [[UInt8]], script: [Int?])] = [
            ([Self.chunk(10, 6)], [nil]),                      // one chunk, direct: blocked
            ([Self.chunk(20, 7), Self.chunk(30, 30)], [nil]),  // more queued: staged retry, blocked again
            ([Self.chunk(40, 3)], [13, nil]),                  // partly taken, then blocked
            ([], [100, 100, 100]),                             // drained
        ]
        var queue = WriteQueue()
        var expected: [UInt8] = []
        let sink = ScriptedSink([])
        var lastBlocked: [UInt8]?
        for row in rows {
            for part in row.append {
                queue.append(part)
                expected.append(contentsOf: part)
            }
            sink.script = row.script
            let before = sink.calls.count
            let result = queue.flush(staging: staging) { sink.write($0) }
            let calls = Array(sink.calls[before...])
            if let blocked = lastBlocked, let first = calls.first {
                XCTAssertGreaterThanOrEqual(first.count, blocked.count, "a retry is no shorter")
                XCTAssertEqual(Array(first.prefix(blocked.count)), blocked, "a retry starts with the same bytes")
            }
            lastBlocked = result == .pending ? calls.last : nil
            XCTAssertEqual(result, row.script.last! == nil ? .pending : .drained)
        }
        XCTAssertEqual(sink.received, expected)
        XCTAssertTrue(queue.isEmpty)
    }

    func testTransportFailureFailsTheFlush() {
        let staging = UnsafeMutableRawBufferPointer.allocate(byteCount: 32, alignment: 16)
        defer { staging.deallocate() }
        var queue = WriteQueue()
        queue.append([1, 2, 3])
        XCTAssertEqual(queue.flush(staging: staging) { _ throws(IOError) in throw IOError(call: "SSL_write", errno: 32) }, .failed)
        XCTAssertEqual(queue.flush(staging: staging) { _ in .eof }, .failed)
        XCTAssertEqual(queue.byteCount, 3)
    }

    /// The slow-consumer cut-off: the chunk partly written stays (the stream must stay whole for
    /// the close frame that follows), the chunks not begun go.
    func testDropUnstartedKeepsThePartlyWrittenChunk() {
        let staging = UnsafeMutableRawBufferPointer.allocate(byteCount: 16, alignment: 16)
        defer { staging.deallocate() }
        var queue = WriteQueue()
        let parts = [Self.chunk(1, 40), Self.chunk(2, 10), Self.chunk(3, 10)]
        for part in parts { queue.append(part) }
        let sink = ScriptedSink([10])  // 10 bytes of the head, then the default (all)
        _ = queue.flush(staging: staging) { bytes in
            if sink.calls.isEmpty { return sink.write(bytes) }
            return .wouldBlock
        }
        XCTAssertEqual(queue.byteCount, 50)
        queue.dropUnstarted()
        XCTAssertEqual(queue.byteCount, 30, "the rest of the head chunk only")
        let rest = ScriptedSink([])
        XCTAssertEqual(queue.flush(staging: staging) { rest.write($0) }, .drained)
        XCTAssertEqual(sink.received + rest.received, parts[0])

        var untouched = WriteQueue()
        for part in parts { untouched.append(part) }
        untouched.dropUnstarted()
        XCTAssertTrue(untouched.isEmpty, "nothing begun: everything goes")
    }

    /// After a refused (would-block) staged write, a TLS retry must carry at least those bytes:
    /// the chunks of that attempt stay, whole.
    func testDropUnstartedKeepsWhatARefusedTLSWriteMustRetry() {
        let staging = UnsafeMutableRawBufferPointer.allocate(byteCount: 32, alignment: 16)
        defer { staging.deallocate() }
        var queue = WriteQueue()
        let parts = [Self.chunk(1, 10), Self.chunk(2, 10), Self.chunk(3, 10), Self.chunk(4, 10), Self.chunk(5, 10)]
        for part in parts { queue.append(part) }
        let refused = ScriptedSink([nil])
        XCTAssertEqual(queue.flush(staging: staging) { refused.write($0) }, .pending)
        XCTAssertEqual(refused.calls.map(\.count), [32])
        queue.dropUnstarted()
        XCTAssertEqual(queue.byteCount, 40, "the four chunks the 32-byte attempt touched")
        let retry = ScriptedSink([])
        XCTAssertEqual(queue.flush(staging: staging) { retry.write($0) }, .drained)
        XCTAssertEqual(Array(retry.calls[0].prefix(32)), refused.calls[0], "the retry starts with the same bytes")
        XCTAssertGreaterThanOrEqual(retry.calls[0].count, 32)
        XCTAssertEqual(retry.received, parts[0..<4].flatMap { $0 })
    }
}
