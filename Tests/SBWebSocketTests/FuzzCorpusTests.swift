import XCTest
@testable import SBWebSocket
import SBTestSupport

/// The libFuzzer seeds and any crash reproducers (Tests/Fuzz/corpus/ws, grown by
/// Scripts/fuzz.sh) replayed as regression tests: split at every offset, each gives the same
/// events as when fed whole, and nothing follows a protocol failure.
final class WebSocketFuzzCorpusTests: XCTestCase {
    func events(_ chunks: [[UInt8]], requireMask: Bool) -> [WebSocketReadEvent] {
        var reader = WebSocketReader(maxMessageBytes: 4096, requireMask: requireMask)
        var seen: [WebSocketReadEvent] = []
        for chunk in chunks {
            reader.feed(chunk)
            while let event = reader.next() {
                XCTAssertLessThan(seen.count, 10_000, "the reader makes progress")
                seen.append(event)
                if case .text(let payload) = event {
                    XCTAssertNotNil(String(validating: payload, as: UTF8.self), "text messages are valid UTF-8")
                }
                if case .failure = event { return seen }
            }
        }
        return seen
    }

    func testCorpusReplaysAtEverySplit() throws {
        let inputs = try FuzzCorpus.inputs("ws")
        XCTAssertGreaterThanOrEqual(inputs.count, 5, "the corpus is in place")
        for (name, bytes) in inputs {
            for requireMask in [true, false] {
                let whole = events([bytes], requireMask: requireMask)
                for (cut, chunks) in FuzzCorpus.splits(bytes) {
                    XCTAssertEqual(events(chunks, requireMask: requireMask), whole, "\(name) split at \(cut)")
                }
            }
        }
    }

    func testSeedsMeanWhatTheirNamesSay() {
        func load(_ name: String) -> [UInt8] { FuzzCorpus.input("ws", name) }
        XCTAssertEqual(events([load("text")], requireMask: true), [.text(Array("Hello".utf8))])
        XCTAssertEqual(events([load("close")], requireMask: true), [.close(code: 1000, reason: "")])
        guard case .failure(let code, _)? = events([load("bad-utf8")], requireMask: true).last else {
            return XCTFail("invalid UTF-8 fails")
        }
        XCTAssertEqual(code, 1007)
        XCTAssertEqual(events([load("binary-16bit-truncated")], requireMask: true), [], "a truncated frame waits for more bytes")
    }
}
