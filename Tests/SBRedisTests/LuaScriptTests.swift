import SBRedis
import XCTest

/// The flags line of a script (Redis 7) and its fallback for Redis 6.2, which compiles that line
/// as Lua and refuses it.
final class LuaScriptTests: XCTestCase {
    func testSourceWithoutFlagsDropsOnlyTheShebangLine() {
        XCTAssertEqual(LuaScript(name: "a", source: "#!lua flags=no-writes\nreturn 1\n-- #!lua").sourceWithoutFlags, "return 1\n-- #!lua")
        XCTAssertEqual(LuaScript(name: "b", source: "return 1").sourceWithoutFlags, "return 1")
        XCTAssertEqual(LuaScript(name: "c", source: "#!lua").sourceWithoutFlags, "")
    }

    func testOnlyTheCompileErrorOfTheFlagsLineFallsBack() {
        // Redis 6.2's answer to SCRIPT LOAD "#!lua\n…".
        XCTAssertTrue(LuaScript.isFlagsLineRefusal("ERR Error compiling script (new function): user_script:1: unexpected symbol near '#'"))
        XCTAssertFalse(LuaScript.isFlagsLineRefusal("ERR Error compiling script (new function): user_script:3: '=' expected near 'x'"))
        XCTAssertFalse(LuaScript.isFlagsLineRefusal("NOPERM this user has no permissions to run the 'script|load' command"))
        XCTAssertFalse(LuaScript.isFlagsLineRefusal("OOM command not allowed when used memory > 'maxmemory'."))
    }
}
