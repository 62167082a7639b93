import SBCore
import Foundation
import Logging
import Synchronization
import XCTest
import SBEventLoop
@testable import SBRedis
import SBTestSupport

final class RedisURLTests: XCTestCase {
    func testParsing() throws {
        XCTAssertEqual(try RedisURL(parsing: "redis://127.0.0.1:6380"), RedisURL(host: "127.0.0.1", port: 6380))
        XCTAssertEqual(try RedisURL(parsing: "redis://localhost"), RedisURL(host: "127.0.0.1", port: 6379))
        XCTAssertEqual(try RedisURL(parsing: "redis://:secret@10.0.0.5:7000/4"),
                       RedisURL(host: "10.0.0.5", port: 7000, user: nil, password: "secret", db: 4))
        XCTAssertEqual(try RedisURL(parsing: "redis://app:p%40ss@127.0.0.1/2").user, "app")
        XCTAssertEqual(try RedisURL(parsing: "redis://[::1]:6390").host, "::1")
        XCTAssertThrowsError(try RedisURL(parsing: "http://x"))
        XCTAssertThrowsError(try RedisURL(parsing: "redis://h:99999"))
        XCTAssertThrowsError(try RedisURL(parsing: "redis://h:1/x"))
        XCTAssertEqual(try RedisURL(parsing: "redis://localhost:6379").resolved().host, "127.0.0.1")
        XCTAssertEqual(try RedisURL(parsing: "redis://10.1.2.3").resolved().host, "10.1.2.3", "numeric hosts are kept")
        XCTAssertThrowsError(try RedisURL(parsing: "redis://no-such-host.invalid:6379").resolved())
        XCTAssertFalse(String(describing: try RedisURL(parsing: "redis://u:secret@127.0.0.1")).contains("secret"))
    }

    func testRedissMeansTLSAndKeepsTheHostNameForTheCertificateCheck() throws {
        let url = try RedisURL(parsing: "rediss://default:token@eu1-example.upstash.io:6379")
        XCTAssertTrue(url.usesTLS)
        XCTAssertEqual(url.host, "eu1-example.upstash.io")
        XCTAssertEqual(url.user, "default")
        XCTAssertEqual(url.password, "token")
        XCTAssertEqual(String(describing: url), "rediss://default:***@eu1-example.upstash.io:6379/0")
        XCTAssertFalse(try RedisURL(parsing: "redis://127.0.0.1").usesTLS)
        XCTAssertTrue(try RedisURL(parsing: "rediss://[::1]:6390/2").usesTLS)
        XCTAssertEqual(try RedisURL(parsing: "rediss://[::1]:6390/2").db, 2)
        XCTAssertThrowsError(try RedisURL(parsing: "redisss://h"))
        XCTAssertThrowsError(try RedisURL(parsing: "tls://h"))
    }

    func testWarningsAreRateLimitedPerKey() {
        let warnings = RedisWarnings(interval: 30, capacity: 2)
        XCTAssertTrue(warnings.shouldLog("a", now: 100))
        XCTAssertFalse(warnings.shouldLog("a", now: 129), "within the interval")
        XCTAssertFalse(warnings.shouldLog("a", now: 99), "a thread that read the clock earlier but took the lock later")
        XCTAssertTrue(warnings.shouldLog("b", now: 129), "another cause is its own key")
        XCTAssertTrue(warnings.shouldLog("a", now: 130), "the interval passed")
        XCTAssertFalse(warnings.shouldLog("a", now: 131))
        XCTAssertTrue(warnings.shouldLog("c", now: 131), "past capacity the memory starts over (bounded)")
        XCTAssertTrue(warnings.shouldLog("a", now: 132))
    }
}

final class RedisArgumentsTests: XCTestCase {
    func testEncodingAndTheTerminatorHiredisNeeds() {
        var arguments: RedisArguments = ["SET", "k"]
        arguments.append(Array("v\r\n\u{0}x".utf8))
        let expected = Array("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nv\r\n\u{0}x\r\n".utf8)
        XCTAssertEqual(arguments.encoded, expected, "binary-safe bulk strings")
        arguments.withFormattedCommand { command, length in
            XCTAssertEqual(length, expected.count, "the NUL is not part of the request")
            XCTAssertEqual(command[length], 0, "hiredis 0.14.1 strchr()s the request: it must be NUL-terminated")
        }
    }
}

/// RedisConnection against a real redis-server: pipelining and exactly-once completions.
final class RedisConnectionTests: XCTestCase {
    final class Counter: @unchecked Sendable {
        let values = Locked<[String: Int]>([:])
        func add(_ key: String) { values.withLock { $0[key, default: 0] += 1 } }
        func get(_ key: String) -> Int { values.withLock { $0[key] ?? 0 } }
        var total: Int { values.withLock { $0.values.reduce(0, +) } }
    }

    func testPipelinedCommandsEachCompleteExactlyOnceEvenWhenRedisDies() throws {
        try XCTSkipUnless(RedisTestServer.isAvailable, "redis-server not installed")
        let redis = try RedisTestServer()
        let group = try EventLoopGroup(count: 1)
        group.start()
        defer { group.stopAll(); group.waitUntilStopped() }
        let loop = group.loops[0]
        let connection = RedisConnection(loop: loop, url: try RedisURL(parsing: redis.url), logger: Logger(label: "t"))
        loop.execute { connection.start() }
        XCTAssertTrue(waitFor(timeout: 10) { connection.isReady })

        let outcomes = Counter()
        loop.execute {
            for i in 0..<1000 {
                connection.send("INCR", "n") { result in
                    switch result {
                    case .success(.integer(let value)): outcomes.add(value == Int64(i + 1) ? "inOrder" : "outOfOrder")
                    default: outcomes.add("other")
                    }
                }
            }
        }
        XCTAssertTrue(waitFor(timeout: 10) { outcomes.total == 1000 })
        XCTAssertEqual(outcomes.get("inOrder"), 1000, "pipelined replies matched in order")

        // Kill Redis with 5000 commands queued: each still completes exactly once (failures included).
        let failing = Counter()
        loop.execute {
            for _ in 0..<5000 {
                connection.send("INCR", "m") { result in
                    if case .success = result { failing.add("ok") } else { failing.add("failed") }
                }
            }
        }
        redis.kill(signal: SIGKILL)
        XCTAssertTrue(waitFor(timeout: 10) { failing.total == 5000 })
        XCTAssertEqual(outcomes.total, 1000, "the disconnect completed none of the earlier commands again")
        XCTAssertFalse(connection.isReady)
        // While down, commands fail at once with .unavailable.
        let down = Counter()
        loop.execute { connection.send("PING") { if case .failure(.unavailable) = $0 { down.add("unavailable") } } }
        XCTAssertTrue(waitFor(timeout: 5) { down.get("unavailable") == 1 })
        try redis.start()
        XCTAssertTrue(waitFor(timeout: 10) { connection.isReady }, "reconnects with backoff")
        XCTAssertGreaterThanOrEqual(connection.reconnects, 1)
        // Nothing more arrived in the whole cycle (disconnect, backoff, reconnect): a command
        // sent now completes after anything the old socket could still have delivered.
        let after = Counter()
        loop.execute { connection.send("PING") { if case .success = $0 { after.add("ok") } } }
        XCTAssertTrue(waitFor(timeout: 5) { after.get("ok") == 1 })
        XCTAssertEqual(failing.total, 5000, "no failed command completed twice")
        XCTAssertEqual(outcomes.total, 1000, "no answered command completed twice")
        XCTAssertEqual(down.total, 1, "the command refused while down completed once")
    }

    func testSubscriberResubscribesAfterRestart() throws {
        try XCTSkipUnless(RedisTestServer.isAvailable, "redis-server not installed")
        let redis = try RedisTestServer()
        let group = try EventLoopGroup(count: 1)
        group.start()
        defer { group.stopAll(); group.waitUntilStopped() }
        let messages = Counter()
        let subscriber = RedisSubscriber(loop: group.loops[0], url: try RedisURL(parsing: redis.url), channel: "ch", logger: Logger(label: "t"),
                                         onMessage: { messages.add(String(decoding: $0, as: UTF8.self)) },
                                         onResubscribed: { messages.add("resubscribed") })
        group.loops[0].execute { subscriber.start() }
        XCTAssertTrue(waitFor(timeout: 10) { subscriber.isSubscribed })
        XCTAssertEqual(messages.get("resubscribed"), 0, "the first subscription is not a resubscribe")
        try redis.command(["PUBLISH", "ch", "hello"])
        XCTAssertTrue(waitFor(timeout: 5) { messages.get("hello") == 1 })
        redis.kill(signal: SIGKILL)
        try redis.start()
        XCTAssertTrue(waitFor(timeout: 10) { messages.get("resubscribed") == 1 })
        XCTAssertTrue(subscriber.isSubscribed)
        try redis.command(["PUBLISH", "ch", "again"])
        XCTAssertTrue(waitFor(timeout: 5) { messages.get("again") == 1 })
    }
}
