import XCTest
@testable import SBRedis

/// Every transition of the connection lifecycle, with times passed in: no socket, no clock.
final class RedisConnectionStateMachineTests: XCTestCase {
    let second: UInt64 = 1_000_000_000

    func makeMachine() -> RedisConnectionStateMachine {
        RedisConnectionStateMachine(connectTimeout: 2 * second, commandTimeout: 3 * second)
    }

    func testHappyPathToReady() {
        var machine = makeMachine()
        XCTAssertEqual(machine.start(now: 0), .discover(attempt: 1), "the address is looked up off the loop first")
        XCTAssertEqual(machine.start(now: 1), .none, "start is idempotent")
        XCTAssertEqual(machine.addressFound(attempt: 1, now: 0), .connect)
        XCTAssertEqual(machine.state, .connecting(deadline: 2 * second))
        XCTAssertEqual(machine.connected(now: second), .handshake)
        XCTAssertEqual(machine.state, .handshaking(deadline: 3 * second))
        XCTAssertFalse(machine.isReady, "nothing but the handshake is sent before ready")
        XCTAssertEqual(machine.handshakeFinished(ok: true), .becomeReady)
        XCTAssertTrue(machine.isReady)
    }

    func testFailedHandshakeDropsAndBacksOff() {
        var machine = makeMachine()
        _ = machine.start(now: 0)
        _ = machine.addressFound(attempt: 1, now: 0)
        _ = machine.connected(now: 0)
        XCTAssertEqual(machine.handshakeFinished(ok: false), .drop(.disconnected))
        XCTAssertEqual(machine.contextLost(random: 0.5), .reconnect(afterMilliseconds: 100))
        XCTAssertEqual(machine.state, .waiting)
        XCTAssertEqual(machine.reconnectDue(now: 10 * second), .discover(attempt: 2), "every reconnect looks the address up again")
        XCTAssertEqual(machine.addressFound(attempt: 2, now: 10 * second), .connect)
        XCTAssertEqual(machine.state, .connecting(deadline: 12 * second))
    }

    func testBackoffDoublesToTheCapAndResetsWhenReady() {
        var machine = makeMachine()
        guard case .discover(var attempt) = machine.start(now: 0) else { return XCTFail("expected a lookup") }
        var delays: [Int] = []
        for _ in 0..<8 {
            XCTAssertEqual(machine.addressFound(attempt: attempt, now: 0), .connect)
            guard case .reconnect(let ms) = machine.contextLost(random: 0.5) else { return XCTFail("expected a reconnect") }
            delays.append(ms)
            guard case .discover(let next) = machine.reconnectDue(now: 0) else { return XCTFail("expected a lookup") }
            attempt = next
        }
        XCTAssertEqual(machine.addressFound(attempt: attempt, now: 0), .connect)
        XCTAssertEqual(delays, [100, 200, 400, 800, 1600, 3000, 3000, 3000])
        _ = machine.connected(now: 0)
        _ = machine.handshakeFinished(ok: true)
        XCTAssertEqual(machine.contextLost(random: 0.5), .reconnect(afterMilliseconds: 100), "a good connection resets the backoff")
    }

    func testJitterStaysWithinTwentyPercentAndUnderTheCap() {
        var low = Backoff(), high = Backoff()
        XCTAssertEqual(low.next(random: 0), 80)
        XCTAssertEqual(high.next(random: 0.999_999), 119)
        var capped = Backoff(initialMilliseconds: 3000, capMilliseconds: 3000)
        XCTAssertEqual(capped.next(random: 1), 3000, "jitter never goes above the cap")
    }

    func testConnectAndHandshakeTimeouts() {
        var machine = makeMachine()
        _ = machine.start(now: 0)
        _ = machine.addressFound(attempt: 1, now: 0)
        XCTAssertEqual(machine.nextDeadline(oldestCommand: nil), 2 * second)
        XCTAssertEqual(machine.tick(now: second, oldestCommand: nil), .none)
        XCTAssertEqual(machine.tick(now: 2 * second, oldestCommand: nil), .drop(.timeout))
        _ = machine.connected(now: 2 * second)
        XCTAssertEqual(machine.tick(now: 3 * second, oldestCommand: nil), .none)
        XCTAssertEqual(machine.tick(now: 4 * second, oldestCommand: nil), .drop(.timeout), "a handshake that hangs is dropped")
    }

    func testCommandTimeoutUsesTheOldestPendingCommand() {
        var machine = makeMachine()
        _ = machine.start(now: 0)
        _ = machine.addressFound(attempt: 1, now: 0)
        _ = machine.connected(now: 0)
        _ = machine.handshakeFinished(ok: true)
        XCTAssertNil(machine.nextDeadline(oldestCommand: nil), "nothing can time out while idle")
        XCTAssertEqual(machine.nextDeadline(oldestCommand: 5 * second), 8 * second)
        XCTAssertEqual(machine.tick(now: 7 * second, oldestCommand: 5 * second), .none)
        XCTAssertEqual(machine.tick(now: 8 * second, oldestCommand: 5 * second), .drop(.timeout))
    }

    func testCloseFromEveryState() {
        var idle = makeMachine()
        XCTAssertEqual(idle.close(), .none)
        XCTAssertEqual(idle.start(now: 0), .none, "a closed connection never connects again")

        var discovering = makeMachine()
        _ = discovering.start(now: 0)
        XCTAssertEqual(discovering.close(), .none, "no context yet")
        XCTAssertEqual(discovering.addressFound(attempt: 1, now: 0), .none, "a lookup answering after close is ignored")

        var connecting = makeMachine()
        _ = connecting.start(now: 0)
        _ = connecting.addressFound(attempt: 1, now: 0)
        XCTAssertEqual(connecting.close(), .disconnect)
        XCTAssertEqual(connecting.contextLost(random: 0), .none, "no reconnect after close")

        var waiting = makeMachine()
        _ = waiting.start(now: 0)
        _ = waiting.contextLost(random: 0)
        XCTAssertEqual(waiting.close(), .none)
        XCTAssertEqual(waiting.reconnectDue(now: 0), .none, "a pending reconnect timer does nothing after close")
    }

    func testStaleEventsAreIgnored() {
        var machine = makeMachine()
        XCTAssertEqual(machine.connected(now: 0), .none, "connected before start")
        XCTAssertEqual(machine.handshakeFinished(ok: true), .none)
        XCTAssertEqual(machine.contextLost(random: 0), .none)
        _ = machine.start(now: 0)
        XCTAssertEqual(machine.connected(now: 0), .none, "connected while still looking the address up")
        XCTAssertEqual(machine.contextLost(random: 0), .none, "no context while discovering")
        _ = machine.addressFound(attempt: 1, now: 0)
        XCTAssertEqual(machine.handshakeFinished(ok: true), .none, "handshake result before the TCP connect")
        XCTAssertEqual(machine.reconnectDue(now: 0), .none, "reconnect timer while already connecting")
    }

    func testFailedLookupBacksOffAndLooksAgain() {
        var machine = makeMachine()
        XCTAssertEqual(machine.start(now: 0), .discover(attempt: 1))
        XCTAssertEqual(machine.discoveryFailed(attempt: 1, random: 0.5), .reconnect(afterMilliseconds: 100))
        XCTAssertEqual(machine.state, .waiting)
        XCTAssertEqual(machine.reconnectDue(now: second), .discover(attempt: 2))
        XCTAssertEqual(machine.discoveryFailed(attempt: 1, random: 0.5), .none, "a stale failure changes nothing")
        XCTAssertEqual(machine.discoveryFailed(attempt: 2, random: 0.5), .reconnect(afterMilliseconds: 200), "backoff grows")
    }

    func testALookupPastItsDeadlineIsAbandonedAndItsLateAnswerIgnored() {
        var machine = RedisConnectionStateMachine(connectTimeout: 2 * second, commandTimeout: 3 * second, discoveryTimeout: 5 * second)
        XCTAssertEqual(machine.start(now: 0), .discover(attempt: 1))
        XCTAssertEqual(machine.nextDeadline(oldestCommand: nil), 5 * second)
        XCTAssertEqual(machine.tick(now: 4 * second, oldestCommand: nil), .none)
        XCTAssertEqual(machine.tick(now: 5 * second, oldestCommand: nil, random: 0.5), .reconnect(afterMilliseconds: 100))
        XCTAssertEqual(machine.state, .waiting)
        XCTAssertEqual(machine.addressFound(attempt: 1, now: 6 * second), .none, "the abandoned lookup answers late")
        XCTAssertEqual(machine.reconnectDue(now: 6 * second), .discover(attempt: 2))
        XCTAssertEqual(machine.addressFound(attempt: 1, now: 6 * second), .none, "still stale during the next lookup")
        XCTAssertEqual(machine.addressFound(attempt: 2, now: 6 * second), .connect)
    }

    /// A machine driven to `state` (closed: from ready).
    func machine(in state: String, role: RedisConnectionStateMachine.Role = .commands) -> RedisConnectionStateMachine {
        var machine = RedisConnectionStateMachine(connectTimeout: 2 * second, commandTimeout: 3 * second, role: role)
        if state == "idle" { return machine }
        _ = machine.start(now: 0)
        if state == "discovering" { return machine }
        if state == "waiting" { _ = machine.discoveryFailed(attempt: 1, random: 0.5); return machine }
        _ = machine.addressFound(attempt: 1, now: 0)
        if state == "connecting" { return machine }
        _ = machine.connected(now: 0)
        if state == "handshaking" { return machine }
        _ = machine.handshakeFinished(ok: true)
        if state == "ready" { return machine }
        _ = machine.close()
        return machine
    }

    func testEverySocketFailureDropsASocketThatExistsAndNothingElse() {
        let failures: [RedisConnectionStateMachine.SocketFailure] = [
            .connectFailed(111), .readFailed(104), .writeFailed(32), .closedByPeer, .protocolError,
            .tls("certificate verify failed: unable to get local issuer certificate"),
        ]
        let table: [(state: String, expected: RedisConnectionStateMachine.Action)] = [
            ("idle", .none), ("discovering", .none), ("waiting", .none),
            ("connecting", .drop(.disconnected)), ("handshaking", .drop(.disconnected)), ("ready", .drop(.disconnected)),
            ("closed", .drop(.disconnected)),  // a graceful close still waiting for replies
        ]
        for (state, expected) in table {
            for failure in failures {
                var machine = machine(in: state)
                let before = machine.state
                XCTAssertEqual(machine.socketFailed(failure), expected, "\(failure) while \(state)")
                XCTAssertEqual(machine.state, before, "the drop, not the failure, moves the machine (\(failure) while \(state))")
            }
        }
        // The drop closes the socket and reports it: back off, except after close.
        var ready = machine(in: "ready")
        XCTAssertEqual(ready.socketFailed(.closedByPeer), .drop(.disconnected))
        XCTAssertEqual(ready.contextLost(random: 0.5), .reconnect(afterMilliseconds: 100))
        var closed = machine(in: "closed")
        XCTAssertEqual(closed.socketFailed(.readFailed(104)), .drop(.disconnected))
        XCTAssertEqual(closed.contextLost(random: 0.5), .none, "no reconnect after close")
    }

    func testRepliesAnswerCommandsInOrderAndOnlyASubscriberTakesPushes() {
        typealias Route = RedisConnectionStateMachine.ReplyRoute
        let table: [(role: RedisConnectionStateMachine.Role, state: String, isPush: Bool, pending: Int, expected: Route)] = [
            // A command connection: every reply answers the oldest command, push-shaped or not
            // (a script may return {"message", …}); one nobody waits for puts the stream out of step.
            (.commands, "ready", false, 2, .completeOldest),
            (.commands, "ready", true, 1, .completeOldest),
            (.commands, "ready", false, 0, .unexpected),
            (.commands, "ready", true, 0, .unexpected),
            (.commands, "handshaking", false, 3, .completeOldest),
            (.commands, "closed", false, 1, .completeOldest),
            // A subscriber: pushes take no command, whether or not one is pending.
            (.subscriber, "ready", true, 0, .push),
            (.subscriber, "ready", true, 1, .push),
            (.subscriber, "closed", true, 0, .push),
            (.subscriber, "ready", false, 1, .completeOldest),
            (.subscriber, "ready", false, 0, .unexpected),
            // Before it is ready a subscriber has subscribed to nothing: the handshake's replies.
            (.subscriber, "handshaking", true, 1, .completeOldest),
            (.subscriber, "handshaking", false, 1, .completeOldest),
            (.subscriber, "handshaking", true, 0, .unexpected),
        ]
        for row in table {
            let machine = machine(in: row.state, role: row.role)
            XCTAssertEqual(machine.route(isPush: row.isPush, pending: row.pending), row.expected,
                           "\(row.role) \(row.state) push=\(row.isPush) pending=\(row.pending)")
        }
    }
}

/// Which replies are pushes, and what they carry.
final class RedisPushTests: XCTestCase {
    func string(_ text: String) -> RedisReply { .string(Array(text.utf8)) }

    func testPushShapes() {
        let table: [(RedisReply, RedisPush?)] = [
            (.array([string("message"), string("ch"), string("hi")]), RedisPush(kind: .message, channel: Array("ch".utf8), payload: Array("hi".utf8))),
            (.array([string("smessage"), string("ch"), string("hi")]), RedisPush(kind: .smessage, channel: Array("ch".utf8), payload: Array("hi".utf8))),
            (.array([string("pmessage"), string("c*"), string("ch"), string("hi")]), RedisPush(kind: .pmessage, channel: Array("ch".utf8), payload: Array("hi".utf8))),
            (.array([string("subscribe"), string("ch"), .integer(1)]), RedisPush(kind: .subscribe, channel: Array("ch".utf8), payload: nil)),
            (.array([string("ssubscribe"), string("ch"), .integer(1)]), RedisPush(kind: .ssubscribe, channel: Array("ch".utf8), payload: nil)),
            (.array([string("unsubscribe"), string("ch"), .integer(0)]), RedisPush(kind: .unsubscribe, channel: Array("ch".utf8), payload: nil)),
            // Redis Cluster, unasked, when the channel's slot moved.
            (.array([string("sunsubscribe"), string("ch"), .integer(0)]), RedisPush(kind: .sunsubscribe, channel: Array("ch".utf8), payload: nil)),
            // UNSUBSCRIBE with nothing subscribed.
            (.array([string("unsubscribe"), .null, .integer(0)]), RedisPush(kind: .unsubscribe, channel: nil, payload: nil)),
            // Not pushes: other kinds, wrong arity or element types, non-arrays.
            (.array([string("pong"), string("")]), nil),
            (.array([string("message"), string("ch")]), nil),
            (.array([string("message"), string("ch"), .integer(1)]), nil),
            (.array([string("subscribe"), string("ch"), string("1")]), nil),
            (.array([string("pmessage"), string("ch"), string("hi")]), nil),
            (.array([.integer(1), string("ch"), string("hi")]), nil),
            (.array([string("MESSAGE"), string("ch"), string("hi")]), nil),
            (string("message"), nil),
            (.status("OK"), nil),
        ]
        for (reply, expected) in table {
            XCTAssertEqual(RedisPush(reply), expected, "\(reply)")
        }
    }
}
