/// A Lua script run with EVALSHA. Every connection that lists it loads it (SCRIPT LOAD) on
/// connect, so the hot path sends its 40-byte SHA instead of its source.
public struct LuaScript: Sendable, Hashable {
    public let name: String
    public let source: String

    public init(name: String, source: String) {
        self.name = name
        self.source = source
    }
}
