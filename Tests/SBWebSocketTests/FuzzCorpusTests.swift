import Foundation
import XCTest
@testable import SBWebSocket

/// The libFuzzer seeds and any crash reproducers (Tests/Fuzz/corpus/ws, grown by
/// Scripts/fuzz.sh) replayed as regression tests: split at every offset, each gives the same
/// events as when fed whole, and nothing follows a protocol failure.
final class WebSocketFuzzCorpusTests: XCTestCase {
    static let corpus = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fuzz/corpus/ws")

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
        let files = try FileManager.default.contentsOfDirectory(at: Self.corpus, includingPropertiesForKeys: nil)
        XCTAssertGreaterThanOrEqual(files.count, 5, "the corpus is in place")
        for file in files {
            let bytes = [UInt8](try Data(contentsOf: file))
            for requireMask in [true, false] {
                let whole = events([bytes], requireMask: requireMask)
                for cut in 0...bytes.count {
                    XCTAssertEqual(events([Array(bytes[..<cut]), Array(bytes[cut...])], requireMask: requireMask), whole,
                                   "\(file.lastPathComponent) split at \(cut)")
                }
            }
        }
    }

    func testSeedsMeanWhatTheirNamesSay() {
        func load(_ name: String) -> [UInt8] {
            (try? [UInt8](Data(contentsOf: Self.corpus.appendingPathComponent(name)))) ?? []
        }
        XCTAssertEqual(events([load("text")], requireMask: true), [.text(Array("Hello".utf8))])
        XCTAssertEqual(events([load("close")], requireMask: true), [.close(code: 1000, reason: "")])
        guard case .failure(let code, _)? = events([load("bad-utf8")], requireMask: true).last else {
            return XCTFail("invalid UTF-8 fails")
        }
        XCTAssertEqual(code, 1007)
        XCTAssertEqual(events([load("binary-16bit-truncated")], requireMask: true), [], "a truncated frame waits for more bytes")
    }
}
