import XCTest
import SBCore
import SBTestSupport

/// The scanner against Foundation's JSONSerialization on 50,000 seeded documents, valid and
/// invalid (JSONDocumentGenerator), and on the fuzz corpus. Python's `json` is the third
/// opinion in Tests/python/test_json_differential.py and Scripts/json-differential.sh.
final class JSONDifferentialTests: XCTestCase {
    func testAgreesWithFoundationOrDiffersAsDocumented() {
        var generator = JSONDocumentGenerator(seed: 8259)
        var agree = 0, documented = 0, accepted = 0
        var failures: [String] = []
        let count = 50_000
        for _ in 0..<count {
            let document = generator.document()
            switch JSONFoundationComparison.compare(document) {
            case .agree: agree += 1
            case .documented: documented += 1
            case .disagree(let why):
                if failures.count < 10 { failures.append("\(why): \(String(decoding: document.prefix(300), as: UTF8.self).debugDescription)") }
            }
            if case .success = JSONScanner.scan(document, keys: .none, maxElements: 0) { accepted += 1 }
        }
        XCTAssertEqual(failures, [], "\(failures.count) disagreements")
        XCTAssertEqual(agree + documented, count)
        // The generator keeps both sides busy: many accepted, many refused, and the documented
        // leniency (trailing commas) does occur.
        XCTAssertGreaterThan(accepted, count / 4)
        XCTAssertLessThan(accepted, count * 3 / 4)
        XCTAssertGreaterThan(documented, 100)
    }

    func testFuzzCorpusAgreesWithFoundation() throws {
        let inputs = try FuzzCorpus.inputs("json")
        XCTAssertGreaterThanOrEqual(inputs.count, 9, "the corpus is in place")
        for (name, bytes) in inputs {
            if case .disagree(let why) = JSONFoundationComparison.compare(bytes) { XCTFail("\(name): \(why)") }
            // Every truncation is refused or agrees, and never crashes.
            for cut in 0..<bytes.count {
                if case .disagree(let why) = JSONFoundationComparison.compare(Array(bytes[..<cut])) { XCTFail("\(name)[..<\(cut)]: \(why)") }
            }
        }
    }
}
