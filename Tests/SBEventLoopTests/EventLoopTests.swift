import Foundation
import Synchronization
import XCTest
@testable import SBEventLoop

final class EventLoopTests: XCTestCase {
    var group: EventLoopGroup!

    override func setUpWithError() throws {
        group = try EventLoopGroup(count: 2)
        group.start()
    }

    override func tearDown() {
        group.stopAll()
        group.waitUntilStopped()
    }

    func testExecuteRunsOnLoopInOrderFromManyThreads() {
        let loop = group.loops[0]
        let seen = Locked<[Int]>([])
        let done = DispatchSemaphore(value: 0)
        for i in 0..<1000 {
            loop.execute {
                precondition(loop.inLoop)
                seen.withLock { $0.append(i) }
                if i == 999 { done.signal() }
            }
        }
        XCTAssertEqual(done.wait(timeout: .now() + 5), .success)
        XCTAssertEqual(seen.withLock { $0 }, Array(0..<1000))
        XCTAssertFalse(loop.inLoop)
    }

    func testTimersFireInDeadlineOrderAndCancel() {
        let loop = group.loops[1]
        let fired = Locked<[String]>([])
        let done = DispatchSemaphore(value: 0)
        loop.execute {
            loop.schedule(after: .milliseconds(30)) { fired.withLock { $0.append("30") }; done.signal() }
            loop.schedule(after: .milliseconds(10)) { fired.withLock { $0.append("10") } }
            let cancelled = loop.schedule(after: .milliseconds(20)) { fired.withLock { $0.append("20") } }
            loop.cancel(cancelled)
            var count = 0
            var handle: TimerHandle?
            handle = loop.scheduleRepeating(every: .milliseconds(5)) {
                count += 1
                if count == 3 { loop.cancel(handle!); fired.withLock { $0.append("r3") } }
            }
        }
        XCTAssertEqual(done.wait(timeout: .now() + 5), .success)
        let order = fired.withLock { $0 }
        XCTAssertFalse(order.contains("20"))
        XCTAssertEqual(order.filter { $0 != "r3" }, ["10", "30"])
        XCTAssertTrue(order.contains("r3"))
    }

    /// A before-sleep hook that reports work left is called again without the loop sleeping,
    /// and is told whether the iteration was busy (here: a task was handed over).
    func testBeforeSleepHookWithWorkLeftRunsAgainAtOnce() {
        let loop = group.loops[0]
        let calls = Locked<[Bool]>([])
        let remaining = Locked(0)
        let done = DispatchSemaphore(value: 0)
        loop.execute {
            loop.addBeforeSleep { busy in
                remaining.withLock { left in
                    guard left > 0 else { return false }
                    calls.withLock { $0.append(busy) }
                    left -= 1
                    if left == 0 { done.signal() }
                    return left > 0
                }
            }
        }
        let started = Date()
        loop.execute { remaining.withLock { $0 = 5 } }
        XCTAssertEqual(done.wait(timeout: .now() + 5), .success)
        XCTAssertLessThan(Date().timeIntervalSince(started), 0.5, "no sleep between rounds (the loop's idle timeout is longer)")
        let seen = calls.withLock { $0 }
        XCTAssertEqual(seen.count, 5)
        XCTAssertEqual(seen.first, true, "the iteration that ran a handed-over task is busy")
        XCTAssertEqual(seen.last, false, "a poll that found nothing makes the next call idle")
    }

    final class PipeReader: IOHandler, @unchecked Sendable {
        let fd: Int32
        var onRead: ([UInt8]) -> Void
        init(fd: Int32, onRead: @escaping ([UInt8]) -> Void) { self.fd = fd; self.onRead = onRead }
        func handleIO(_ events: IOEvents) {
            var buffer = [UInt8](repeating: 0, count: 64)
            let n = buffer.withUnsafeMutableBytes { try? SocketIO.read(fd: fd, into: $0) }
            if case .processed(let count)? = n { onRead(Array(buffer[0..<count])) }
        }
    }

    /// A registration for a closed and reused fd never receives the old fd's events.
    func testReadinessAndStaleRegistration() throws {
        let loop = group.loops[0]
        var fds: [Int32] = [0, 0]
        XCTAssertEqual(pipe(&fds), 0)
        let readFD = fds[0]
        SocketIO.setNonBlocking(fd: readFD)
        let got = Locked<[UInt8]>([])
        let done = DispatchSemaphore(value: 0)
        let reader = PipeReader(fd: readFD) { bytes in got.withLock { $0 += bytes }; done.signal() }
        let registered = DispatchSemaphore(value: 0)
        let box = Locked<Registration?>(nil)
        loop.execute {
            box.withLock { $0 = try? loop.register(fd: readFD, interest: .readable, handler: reader) }
            registered.signal()
        }
        registered.wait()
        _ = [UInt8(7)].withUnsafeBytes { write(fds[1], $0.baseAddress, 1) }
        XCTAssertEqual(done.wait(timeout: .now() + 5), .success)
        XCTAssertEqual(got.withLock { $0 }, [7])
        let gone = DispatchSemaphore(value: 0)
        loop.execute {
            if let r = box.withLock({ $0 }) { loop.deregister(r); loop.deregister(r) }  // idempotent
            gone.signal()
        }
        gone.wait()
        _ = [UInt8(8)].withUnsafeBytes { write(fds[1], $0.baseAddress, 1) }
        XCTAssertEqual(done.wait(timeout: .now() + 0.2), .timedOut, "no events after deregister")
        close(fds[0]); close(fds[1])
    }

    func testWriteQueueWritesSharedAndOwnedChunksInOrder() throws {
        var fds: [Int32] = [0, 0]
        XCTAssertEqual(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &fds), 0)
        defer { close(fds[0]); close(fds[1]) }
        var queue = WriteQueue()
        let shared = SharedBytesFixture.make([4, 5, 6])
        queue.append([1, 2, 3])
        queue.append(shared)
        queue.append(shared)
        XCTAssertEqual(queue.byteCount, 9)
        XCTAssertEqual(queue.flush(fd: fds[0]), .drained)
        XCTAssertTrue(queue.isEmpty)
        var buffer = [UInt8](repeating: 0, count: 16)
        let n = recv(fds[1], &buffer, 16, 0)
        XCTAssertEqual(Array(buffer[0..<n]), [1, 2, 3, 4, 5, 6, 4, 5, 6])
    }
}

import SBCore
enum SharedBytesFixture {
    static func make(_ bytes: [UInt8]) -> SharedBytes { SharedBytes(bytes) }
}
