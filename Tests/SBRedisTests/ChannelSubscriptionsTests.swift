@testable import SBRedis
import XCTest

/// Per-session channel bookkeeping, table by table, without a socket.
final class ChannelSubscriptionsTests: XCTestCase {
    func testWantSubscribesOnceAndTheConfirmationAsksForARefill() {
        var set = ChannelSubscriptions()
        XCTAssertEqual(set.connectionReady(refill: false), .none)
        XCTAssertEqual(set.want("c:a"), .subscribe(["c:a"]))
        XCTAssertEqual(set.want("c:a"), .none, "already on its way")
        XCTAssertEqual(set.subscribeConfirmed("c:a"), .confirmed("c:a", refill: true), "events before the SUBSCRIBE must be read")
        XCTAssertEqual(set.subscribeConfirmed("c:a"), .none, "a repeated confirmation changes nothing")
        XCTAssertEqual(set.channels["c:a"], .subscribed)
    }

    func testUnwantUnsubscribesAndForgetsOnConfirmation() {
        var set = ChannelSubscriptions()
        _ = set.connectionReady(refill: false)
        _ = set.want("c:a")
        _ = set.subscribeConfirmed("c:a")
        XCTAssertEqual(set.unwant("c:a"), .unsubscribe(["c:a"]))
        XCTAssertEqual(set.unwant("c:a"), .none)
        XCTAssertEqual(set.unsubscribeConfirmed("c:a"), .none)
        XCTAssertNil(set.channels["c:a"])
    }

    func testWantedAgainWhileUnsubscribingIsSubscribedOnlyAfterTheUnsubscribeAnswer() {
        var set = ChannelSubscriptions()
        _ = set.connectionReady(refill: false)
        _ = set.want("c:a")
        _ = set.subscribeConfirmed("c:a")
        _ = set.unwant("c:a")
        XCTAssertEqual(set.want("c:a"), .none, "no SUBSCRIBE while the UNSUBSCRIBE is unanswered")
        XCTAssertEqual(set.unsubscribeConfirmed("c:a"), .subscribe(["c:a"]))
        XCTAssertEqual(set.subscribeConfirmed("c:a"), .confirmed("c:a", refill: true))
    }

    func testUnwantWhileSubscribingUnsubscribesAndIgnoresTheLateConfirmation() {
        var set = ChannelSubscriptions()
        _ = set.connectionReady(refill: false)
        _ = set.want("c:a")
        XCTAssertEqual(set.unwant("c:a"), .unsubscribe(["c:a"]))
        XCTAssertEqual(set.subscribeConfirmed("c:a"), .none, "its SUBSCRIBE answer arrives first and is ignored")
        XCTAssertEqual(set.unsubscribeConfirmed("c:a"), .none)
        XCTAssertTrue(set.channels.isEmpty)
    }

    func testWhileDisconnectedWantsWaitAndAReconnectSendsThemInOneCommand() {
        var set = ChannelSubscriptions()
        XCTAssertEqual(set.want("c:b"), .none, "not connected yet")
        XCTAssertEqual(set.want("c:a"), .none)
        XCTAssertEqual(set.unwant("c:b"), .none, "never sent, simply forgotten")
        XCTAssertEqual(set.connectionReady(refill: true), .subscribe(["c:a"]))
        XCTAssertEqual(set.subscribeConfirmed("c:a"), .confirmed("c:a", refill: true), "first connect: each session refills")
        _ = set.want("c:c")
        _ = set.unwant("c:a")
        set.connectionLost()
        XCTAssertEqual(set.channels, ["c:c": .pending], "an unsubscribe under way is done by the drop itself")
        XCTAssertEqual(set.connectionReady(refill: false), .subscribe(["c:c"]))
        XCTAssertEqual(set.subscribeConfirmed("c:c"), .confirmed("c:c", refill: false), "after a reconnect the owner refills everything")
    }

    func testUnsubscribingAndWantedAgainWhenTheConnectionDrops() {
        var set = ChannelSubscriptions()
        _ = set.connectionReady(refill: false)
        _ = set.want("c:a")
        _ = set.subscribeConfirmed("c:a")
        _ = set.unwant("c:a")
        _ = set.want("c:a")
        set.connectionLost()
        XCTAssertEqual(set.channels["c:a"], .pending)
        XCTAssertEqual(set.connectionReady(refill: false), .subscribe(["c:a"]))
    }
}

extension ChannelSubscriptionsTests {
    /// Redis Cluster's `sunsubscribe` for a channel we hold (its slot moved): forgotten, and
    /// the owner told, so it subscribes at the slot's new master.
    func testAServerSideUnsubscribeOfAHeldChannelIsADrop() {
        var set = ChannelSubscriptions()
        _ = set.connectionReady(refill: false)
        _ = set.want("c:a")
        XCTAssertEqual(set.unsubscribeConfirmed("c:a"), .dropped("c:a"), "dropped before the confirmation")
        XCTAssertNil(set.channels["c:a"])
        _ = set.want("c:b")
        _ = set.subscribeConfirmed("c:b")
        XCTAssertEqual(set.unsubscribeConfirmed("c:b"), .dropped("c:b"))
        XCTAssertEqual(set.want("c:b"), .subscribe(["c:b"]), "wanted again: subscribed again")
        XCTAssertEqual(set.unsubscribeConfirmed("c:unknown"), .none)
    }
}
