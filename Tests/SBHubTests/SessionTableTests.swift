import XCTest
@testable import SBHub

/// The per-client subscription table: inline for one session, a dictionary from the second.
final class SessionTableTests: XCTestCase {
    final class Item: SessionScoped {
        let sessionId: String
        init(_ sessionId: String) { self.sessionId = sessionId }
    }

    func testOneTwoAndBackToNone() {
        var table = SessionTable<Item>()
        XCTAssertTrue(table.isEmpty)
        XCTAssertNil(table["a"])

        let a = Item("a")
        table["a"] = a
        XCTAssertEqual(table.count, 1)
        XCTAssertTrue(table["a"] === a)
        XCTAssertNil(table["b"], "the inline entry answers only for its own session")

        let a2 = Item("a")
        table["a"] = a2
        XCTAssertEqual(table.count, 1, "same session replaces")
        XCTAssertTrue(table["a"] === a2)

        let b = Item("b")
        table["b"] = b
        XCTAssertEqual(table.count, 2)
        XCTAssertTrue(table["a"] === a2)
        XCTAssertTrue(table["b"] === b)
        XCTAssertEqual(Set(table.map(\.key)), ["a", "b"])

        XCTAssertNil(table.removeValue(forKey: "zz"))
        XCTAssertTrue(table.removeValue(forKey: "a") === a2)
        XCTAssertEqual(table.count, 1)
        XCTAssertNil(table["a"])
        table["b"] = nil
        XCTAssertTrue(table.isEmpty)
        XCTAssertTrue(table.values.isEmpty)
    }

    func testRemovingTheInlineEntryAndRemoveAll() {
        var table = SessionTable<Item>()
        table["x"] = Item("x")
        XCTAssertNil(table.removeValue(forKey: "y"))
        XCTAssertEqual(table.count, 1)
        XCTAssertEqual(table.removeValue(forKey: "x")?.sessionId, "x")
        XCTAssertTrue(table.isEmpty)
        for id in ["p", "q", "r"] { table[id] = Item(id) }
        XCTAssertEqual(table.count, 3)
        table.removeAll()
        XCTAssertEqual(table.count, 0)
    }

    /// Iterating a copy while removing from the original (as a token refresh does).
    func testIterationIsOverASnapshot() {
        var table = SessionTable<Item>()
        for id in ["p", "q", "r"] { table[id] = Item(id) }
        for (key, _) in table where key != "q" { table[key] = nil }
        XCTAssertEqual(table.map(\.key), ["q"])
    }
}
