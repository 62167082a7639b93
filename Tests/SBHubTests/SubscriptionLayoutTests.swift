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
        func send(_ message: HubMessage) {}
        func sendPaced(_ message: HubMessage) -> SendStatus { .dropped }
        func sendLive(_ message: SharedBytes) -> SendStatus { .dropped }
        var clientId: String { "c" }
        var presenceInfo: [UInt8] { [] }
    }

    func testASubscriptionIsOneAllocationOfAtMost96Bytes() {
        let client = Client()
        let subscription = Subscription(client: client, format: .webSocket, sessionId: "s")
        // glibc hands an 88-byte request a 96-byte chunk whose usable part is 88 bytes.
        let usable = mallocUsableSize(Unmanaged.passUnretained(subscription).toOpaque())
        XCTAssertLessThanOrEqual(usable, 88, "the object grew past its 96-byte allocation")
        withExtendedLifetime(client) {}
    }

    /// HubClient keeps its subscriptions last because of this odd size (no padding after it).
    func testASubscriptionSetIsNineBytes() {
        XCTAssertEqual(MemoryLayout<SubscriptionSet>.size, 9)
    }
}
