import SBCore
import SBServer
import SBStore
import XCTest
@testable import SBHub

/// glibc's malloc_usable_size (malloc.h, which the Glibc module does not show).
@_silgen_name("malloc_usable_size")
private func mallocUsableSize(_ pointer: UnsafeMutableRawPointer) -> Int

/// Holds the size Subscription's comment gives: one object per subscription (idle memory).
final class SubscriptionLayoutTests: XCTestCase {
    /// Stands in for a client: creating a Subscription touches none of these.
    final class Client: Subscriber {
        var loopHub: LoopHub { fatalError("not used") }
        var readGate = ReadGate()
        var pacedQueuedBytes: Int? { nil }
        func askDrainNotice(below lowWater: Int) {}
        func confirm(_ sessionId: String, _ confirmation: SubscriptionStateMachine.Confirmation) {}
        func sendReplay(_ events: [StoredEvent], sessionId: String) {}
        func sendLive(_ message: SharedBytes) -> SendStatus { .dropped }
        func sendSessionDeleted(_ sessionId: String, epoch: String) {}
        func sendError(_ message: String, code: String, sessionId: String?) {}
        var presenceClientId: String { "c" }
        var presenceInfo: [UInt8] { [] }
        func sendPresence(_ json: [UInt8]) {}
    }

    func testASubscriptionIsOneAllocationOfAtMost112Bytes() {
        let client = Client()
        // glibc hands a request of up to 104 bytes a 112-byte chunk whose usable part is 104
        // bytes (the presence join time took the former 96-byte chunk past its 88). With no
        // free 112-byte chunk at hand it may cut one from a larger free chunk and, when what
        // is left is too small to split off, hand that out whole (the suite's heap did: 120).
        // So 112-byte chunks are made free first: an object that fits takes one of them.
        let spare = (0..<64).map { _ in malloc(104)! }
        spare.forEach { free($0) }
        let subscriptions = (0..<8).map { _ in Subscription(client: client, format: .webSocket, sessionId: "s") }
        let usable = subscriptions.map { mallocUsableSize(Unmanaged.passUnretained($0).toOpaque()) }.min()!
        XCTAssertLessThanOrEqual(usable, 104, "the object grew past its 112-byte allocation")
        withExtendedLifetime((client, subscriptions)) {}
    }

    /// HubClient keeps its subscriptions last because of this odd size (no padding after it).
    func testASubscriptionSetIsNineBytes() {
        XCTAssertEqual(MemoryLayout<SubscriptionSet>.size, 9)
    }
}
