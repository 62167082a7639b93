import Foundation
import Logging
import SBCore
import SBEventLoop
@testable import SBRedis
import SBTestSupport
import XCTest

/// Address lookups (getaddrinfo, Sentinel) never block a loop thread: they run on a resolver
/// thread and the answer is handed back to the loop.
final class RedisResolverTests: XCTestCase {
    struct Trace: Sendable {
        var lookupsOnLoop = 0
        var lookupsOffLoop = 0
        var completionsOnLoop = 0
        var completionsOffLoop = 0
        var ticksDuringLookup = 0
        var lookingUp = false
    }

    func testTheLookupRunsOffTheLoopWhichKeepsRunningAndTheAnswerComesBackOnTheLoop() throws {
        let group = try EventLoopGroup(count: 1)
        group.start()
        defer { group.stopAll(); group.waitUntilStopped() }
        let loop = group.loops[0]
        let trace = Locked(Trace())
        let resolver = ThreadResolver { _ in
            trace.withLock {
                if loop.inLoop { $0.lookupsOnLoop += 1 } else { $0.lookupsOffLoop += 1 }
                $0.lookingUp = true
            }
            Thread.sleep(forTimeInterval: 0.4)  // a slow, blocking getaddrinfo
            trace.withLock { $0.lookingUp = false }
            return .success(RedisAddress(host: "127.0.0.1", port: 6379))
        }
        loop.execute {
            loop.scheduleRepeating(every: .milliseconds(20)) {
                trace.withLock { if $0.lookingUp { $0.ticksDuringLookup += 1 } }
            }
            resolver.resolve(.direct(host: "redis.example", port: 6379), on: loop) { result in
                trace.withLock { if loop.inLoop { $0.completionsOnLoop += 1 } else { $0.completionsOffLoop += 1 } }
                XCTAssertEqual(try? result.get(), RedisAddress(host: "127.0.0.1", port: 6379))
            }
        }
        XCTAssertTrue(waitFor(timeout: 5) { trace.withLock { $0.completionsOnLoop + $0.completionsOffLoop } == 1 })
        let seen = trace.withLock { $0 }
        XCTAssertEqual(seen.lookupsOnLoop, 0, "no blocking lookup on the loop thread")
        XCTAssertEqual(seen.lookupsOffLoop, 1)
        XCTAssertEqual(seen.completionsOnLoop, 1, "the answer is handed to the loop")
        XCTAssertEqual(seen.completionsOffLoop, 0)
        XCTAssertGreaterThanOrEqual(seen.ticksDuringLookup, 8, "the loop kept running its timers while the lookup blocked")
    }

    /// A connection to a host *name* resolves it off the loop on the first connect and again on
    /// every reconnect.
    func testAConnectionResolvesItsHostNameAgainOnEveryReconnect() throws {
        try XCTSkipUnless(RedisTestServer.isAvailable, "redis-server not installed")
        let redis = try RedisTestServer()
        let group = try EventLoopGroup(count: 1)
        group.start()
        defer { group.stopAll(); group.waitUntilStopped() }
        let loop = group.loops[0]
        let trace = Locked(Trace())
        let resolver = ThreadResolver { endpoint in
            trace.withLock { if loop.inLoop { $0.lookupsOnLoop += 1 } else { $0.lookupsOffLoop += 1 } }
            return RedisDiscovery.lookUp(endpoint)
        }
        // "localhost" is kept as a name here (the URL parser would have mapped it to 127.0.0.1).
        let connection = RedisConnection(loop: loop, url: RedisURL(host: "localhost", port: redis.port), logger: Logger(label: "t"),
                                         resolver: resolver)
        loop.execute { connection.start() }
        XCTAssertTrue(waitFor(timeout: 10) { connection.isReady })
        XCTAssertEqual(trace.withLock { $0.lookupsOffLoop }, 1)
        redis.kill(signal: SIGKILL)
        try redis.start()
        XCTAssertTrue(waitFor(timeout: 10) { connection.isReady && connection.reconnects >= 1 })
        let seen = trace.withLock { $0 }
        XCTAssertGreaterThanOrEqual(seen.lookupsOffLoop, 2, "resolved again on the reconnect")
        XCTAssertEqual(seen.lookupsOnLoop, 0)
        loop.execute { connection.close() }
    }

    /// With Sentinel, the timed master checks of all connections of one master share one lookup
    /// per interval, and when the answer changes every connection moves to the new master.
    func testConnectionsOfOneMasterShareTheirChecksAndAllFollowAMove() throws {
        try XCTSkipUnless(RedisTestServer.isAvailable, "redis-server not installed")
        let first = try RedisTestServer(), second = try RedisTestServer()
        let group = try EventLoopGroup(count: 2)
        group.start()
        defer { group.stopAll(); group.waitUntilStopped() }
        let master = Locked(first.port)
        let lookups = Locked(0)
        let resolver = ThreadResolver { _ in
            lookups.withLock { $0 += 1 }
            return .success(RedisAddress(host: "127.0.0.1", port: master.withLock { $0 }))
        }
        let settings = SentinelSettings(sentinels: [RedisAddress(host: "127.0.0.1", port: 1)], masterName: "m")
        let connections = (0..<6).map { index in
            RedisConnection(loop: group.loops[index % 2], url: RedisURL(), logger: Logger(label: "t"), sentinel: settings,
                            resolver: resolver, masterCheckInterval: .milliseconds(200))
        }
        for connection in connections { connection.loop.execute { connection.start() } }
        XCTAssertTrue(waitFor(timeout: 10) { connections.allSatisfy(\.isReady) })
        let afterConnect = lookups.withLock { $0 }
        Thread.sleep(forTimeInterval: 1.0)  // a measuring window: the lookups counted over one second
        let periodic = lookups.withLock { $0 } - afterConnect
        XCTAssertLessThanOrEqual(periodic, 8, "about one shared lookup per 200 ms interval, not one per connection (\(periodic))")
        XCTAssertGreaterThanOrEqual(periodic, 2, "the checks do run")
        master.withLock { $0 = second.port }
        XCTAssertTrue(waitFor(timeout: 5) {
            connections.allSatisfy { $0.isReady && $0.reconnects >= 1 }
        }, "every connection moved")
        XCTAssertTrue(waitFor(timeout: 5) {
            let clients = (try? second.command(["CLIENT", "LIST"])) ?? ""
            return clients.split(separator: "\n").filter { $0.contains("cmd=") && !$0.contains("cmd=client") }.count >= 6
        }, "all six are connected to the new master")
        for connection in connections { connection.loop.execute { connection.close() } }
    }
}
