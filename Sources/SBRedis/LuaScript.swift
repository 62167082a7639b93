/// A Lua script run with EVALSHA. Every connection that lists it loads it (SCRIPT LOAD) on
/// connect, so the hot path sends its 40-byte SHA instead of its source.
///
/// A source may begin with a Redis 7 flags line (`#!lua`, `#!lua flags=no-writes`, …), which
/// is how Redis learns, before running it, whether a script writes (and so must be refused
/// when over `maxmemory`). Redis 6.2 does not know that line; a connection to it loads
/// `sourceWithoutFlags` instead (see the handshake).
public struct LuaScript: Sendable, Hashable {
    public let name: String
    public let source: String

    public init(name: String, source: String) {
        self.name = name
        self.source = source
    }

    /// The source without its `#!` first line (the source itself when it has none).
    public var sourceWithoutFlags: String {
        guard source.hasPrefix("#!") else { return source }
        guard let newline = source.firstIndex(of: "\n") else { return "" }
        return String(source[source.index(after: newline)...])
    }

    /// Redis before 7.0 compiles the flags line as Lua and fails on its `#`.
    public static func isFlagsLineRefusal(_ message: String) -> Bool {
        message.contains("Error compiling script") && message.contains("near '#'")
    }
}
