@testable import SBRedis
@testable import SBStore
import Foundation
import XCTest

/// The two key layouts, and the migration from one to the other, by table.
final class RedisKeyLayoutTests: XCTestCase {
    func testEveryKeyOfASessionSharesItsSlotOnCluster() {
        let keys = RedisKeys(prefix: "afw:", layout: .cluster)
        let id = "sess-1.a:b"
        let names = [keys.session(id), keys.events(id), keys.seq(id), keys.times(id), keys.epoch(id), keys.chains(id),
                     keys.queue(.commands, id), keys.queue(.input, id), keys.idempotency(id, "k:{odd}"),
                     keys.chain("c1", sessionId: id), keys.sessionChannel(id)]
        XCTAssertEqual(Set(names.map(ClusterSlot.of)), [ClusterSlot.of(id)], "\(names)")
        XCTAssertEqual(keys.events(id), "afw:{sess-1.a:b}:events")
        XCTAssertEqual(keys.sessionChannel(id), "afw:{sess-1.a:b}:channel")
        XCTAssertEqual(keys.sessionId(ofChannel: keys.sessionChannel(id)), id)
        XCTAssertNil(keys.sessionId(ofChannel: "afw:events"))
        XCTAssertEqual(ClusterSlot.of(keys.instances), ClusterSlot.of(keys.instance("i-1")), "the registry is one slot")
    }

    func testTheStandaloneLayoutKeepsTheOriginalNames() {
        let keys = RedisKeys(prefix: "afw:")
        XCTAssertEqual(keys.events("s"), "afw:events:s")
        XCTAssertEqual(keys.session("s"), "afw:sessions:s")
        XCTAssertEqual(keys.chain("c", sessionId: "s"), "afw:chain:c")
        XCTAssertEqual(keys.idempotency("s", "k:x"), "afw:idem:s:k:x")
        XCTAssertEqual(keys.sessionChannel("s"), "afw:channel:s")
        XCTAssertEqual(keys.sessionId(ofChannel: "afw:channel:s"), "s")
        XCTAssertEqual(keys.instance("i"), "afw:instance:i")
    }

    func testMigrationDestinations() {
        let old = RedisKeys(prefix: "afw:")
        let new = RedisKeys(prefix: "afw:", layout: .cluster)
        let rows: [(String, RedisKeyMigration.Destination)] = [
            (old.session("s"), .key(new.session("s"))),
            (old.events("s:1"), .key(new.events("s:1"))),
            (old.seq("s"), .key(new.seq("s"))),
            (old.times("s"), .key(new.times("s"))),
            (old.epoch("s"), .key(new.epoch("s"))),
            (old.chains("s"), .key(new.chains("s"))),
            (old.queue(.commands, "s"), .key(new.queue(.commands, "s"))),
            (old.queue(.input, "s"), .key(new.queue(.input, "s"))),
            (old.command("c-1"), .key(new.command("c-1"))),
            (old.idempotency("s:x", "k:abc"), .key(new.idempotency("s:x", "k:abc"))),
            (old.idempotency("s", "e:ev-1"), .key(new.idempotency("s", "e:ev-1"))),
            (old.chain("ch-1", sessionId: ""), .chain(key: new.chain("ch-1", sessionId: "owner"), pointer: new.chainSession("ch-1"), sessionId: "owner")),
            (old.sessionIndex, .sessionIndex(new.sessionIndex)),
            (old.instances, .skip),
            (old.instance("i"), .skip),
            ("other:events:s", .skip),
            ("afw:events:", .skip),
        ]
        for (key, expected) in rows {
            XCTAssertEqual(RedisKeyMigration.destination(ofStandaloneKey: key, prefix: "afw:") { _ in "owner" }, expected, key)
        }
        XCTAssertEqual(RedisKeyMigration.destination(ofStandaloneKey: "afw:chain:x", prefix: "afw:") { _ in nil }, .skip,
                       "a chain record without its session stays")
    }
}

extension RedisKeyLayoutTests {
    /// The scripts get every key name from `RedisKeys` (KEYS, or a name prefix in ARGV): no
    /// Lua string literal names a key or channel, so the two layouts cannot drift apart.
    func testNoScriptSpellsAKeyName() throws {
        let literal = try NSRegularExpression(pattern: "'([^']*)'")
        let names = ["sessions", "events", "seq", "epoch", "times", "idem", "chains", "chain", "commands", "input",
                     "command", "instance", "instances", "channel", "heartbeat", "index", "afw"]
        for script in RedisScript.allCases {
            let body = script.body
            for match in literal.matches(in: body, range: NSRange(body.startIndex..., in: body)) {
                let text = String(body[Range(match.range(at: 1), in: body)!])
                // JSON fragments of the stored-event and channel formats, and the ':' inside an
                // idempotency record's value, are not names.
                if text.contains("\"") || text == ":" { continue }
                let word = text.trimmingCharacters(in: CharacterSet(charactersIn: ":{}"))
                XCTAssertFalse(names.contains(word) || text.hasSuffix(":") || text.contains("afw"), "\(script): '\(text)'")
            }
        }
    }
}
