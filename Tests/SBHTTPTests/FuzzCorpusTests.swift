import XCTest
@testable import SBHTTP
import SBTestSupport

/// The libFuzzer seeds and any crash reproducers (Tests/Fuzz/corpus/http, grown by
/// Scripts/fuzz.sh) replayed as regression tests: split at every offset, each gives the same
/// events as when fed whole, and nothing follows a fatal error.
final class HTTPFuzzCorpusTests: XCTestCase {
    func events(_ chunks: [[UInt8]]) -> [String] {
        var parser = HTTPRequestParser(limits: HTTPLimits(maxHeadBytes: 2048, maxHeaderCount: 20, maxBodyBytes: 4096, maxTargetBytes: 512))
        var seen: [String] = []
        for chunk in chunks {
            parser.feed(chunk)
            while let event = parser.next() {
                XCTAssertLessThan(seen.count, 10_000, "the parser makes progress")
                switch event {
                case .head(let head): seen.append("head \(head.method.name) \(head.target)")
                case .request(let request): seen.append("request \(request.head.target) \(request.body)")
                case .error(let error):
                    seen.append("error \(error.status)")
                    return seen  // fatal: the connection closes, nothing may follow
                }
            }
        }
        return seen
    }

    func testCorpusReplaysAtEverySplit() throws {
        let inputs = try FuzzCorpus.inputs("http")
        XCTAssertGreaterThanOrEqual(inputs.count, 6, "the corpus is in place")
        for (name, bytes) in inputs {
            let whole = events([bytes])
            XCTAssertFalse(whole.isEmpty, "\(name) yields a request or an error")
            for (cut, chunks) in FuzzCorpus.splits(bytes) {
                XCTAssertEqual(events(chunks), whole, "\(name) split at \(cut)")
            }
        }
    }
}
