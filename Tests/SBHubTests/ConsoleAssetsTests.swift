import Foundation
import XCTest
import SBCrypto
@testable import SBHub

/// What the embedded console files must be, checked where SwiftPM compiled them in.
final class ConsoleAssetsTests: XCTestCase {
    func testEveryFileIsServedUnderItsPathWithAContentHashedNameForScriptAndStyle() throws {
        let paths = ConsoleAssets.files.keys.sorted()
        XCTAssertEqual(paths.count, 5, "\(paths)")
        for fixed in ["/console", "/openapi.json", "/switchboard.js"] { XCTAssertNotNil(ConsoleAssets.files[fixed], fixed) }
        for (stem, ext) in [("console", "js"), ("console", "css")] {
            let hashed = try XCTUnwrap(paths.first { $0.hasPrefix("/console/\(stem).") && $0.hasSuffix(".\(ext)") })
            let file = try XCTUnwrap(ConsoleAssets.files[hashed])
            XCTAssertTrue(file.immutable)
            XCTAssertTrue(hashed.contains(String(file.etag.dropFirst().prefix(12))), "the name carries the content hash: \(hashed) \(file.etag)")
        }
    }

    func testIndexNamesTheHashedFilesAndKeepsNoPlaceholder() throws {
        let index = String(decoding: try XCTUnwrap(ConsoleAssets.files["/console"]).bytes, as: UTF8.self)
        XCTAssertFalse(index.contains("{{"), "an unknown placeholder in index.html")
        for path in ConsoleAssets.files.keys where path.hasPrefix("/console/") {
            XCTAssertTrue(index.contains("\"\(path)\""), path)
        }
    }

    func testFilesUseLineFeedsAndTheDocumentIsJSON() throws {
        for (path, file) in ConsoleAssets.files {
            XCTAssertFalse(file.bytes.contains(UInt8(ascii: "\r")), "\(path): use LF line endings")
        }
        let document = try XCTUnwrap(ConsoleAssets.files["/openapi.json"]).bytes
        XCTAssertNoThrow(try JSONSerialization.jsonObject(with: Data(document)))
    }

    func testETagsAreQuotedContentHashes() throws {
        for (path, file) in ConsoleAssets.files {
            XCTAssertEqual(file.etag, "\"" + String(SHA256.hex(file.bytes).prefix(20)) + "\"", path)
        }
    }
}
