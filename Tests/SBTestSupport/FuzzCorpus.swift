public import Foundation

/// The libFuzzer seeds and crash reproducers kept in Tests/Fuzz/corpus/<target> (Scripts/fuzz.sh
/// adds reproducers there), for the unit tests that replay them.
public enum FuzzCorpus {
    public static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fuzz/corpus")

    /// Every input of one target, by file name.
    public static func inputs(_ target: String) throws -> [(name: String, bytes: [UInt8])] {
        let files = try FileManager.default.contentsOfDirectory(at: root.appendingPathComponent(target), includingPropertiesForKeys: nil)
        return try files.map { ($0.lastPathComponent, [UInt8](try Data(contentsOf: $0))) }
    }

    /// One input of one target.
    public static func input(_ target: String, _ name: String) -> [UInt8] {
        (try? [UInt8](Data(contentsOf: root.appendingPathComponent(target).appendingPathComponent(name)))) ?? []
    }

    /// The input in two pieces, cut at every offset from 0 to its length.
    public static func splits(_ bytes: [UInt8]) -> [(cut: Int, chunks: [[UInt8]])] {
        (0...bytes.count).map { ($0, [Array(bytes[..<$0]), Array(bytes[$0...])]) }
    }
}
