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

    /// `now` follows the clock from turn to turn, on a loop with no timer: a task handed over
    /// after the loop slept sees the time after the sleep, within one turn of the clock.
    func testNowIsReadEveryTurnWithoutTimers() {
        let loop = group.loops[0]
        let times = Locked<[(seen: UInt64, clock: UInt64)]>([])
        let done = DispatchSemaphore(value: 0)
        for _ in 0..<2 {
            loop.execute {
                times.withLock { $0.append((loop.now, MonotonicClock.now())) }
                done.signal()
            }
            XCTAssertEqual(done.wait(timeout: .now() + 5), .success)
            Thread.sleep(forTimeInterval: 0.3)
        }
        let seen = times.withLock { $0 }
        XCTAssertEqual(seen.count, 2)
        XCTAssertGreaterThanOrEqual(seen[1].seen &- seen[0].seen, 250_000_000, "the second task saw the time after the sleep")
        for entry in seen { XCTAssertLessThan(entry.clock &- entry.seen, 250_000_000, "read this turn, not a sleep ago") }
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

    /// Runs `body` on the loop and waits for it.
    func onLoop<T: Sendable>(_ loop: EventLoop, _ body: @escaping @Sendable () -> T) -> T {
        let result = Locked<T?>(nil)
        let ran = DispatchSemaphore(value: 0)
        loop.execute { result.withLock { $0 = body() }; ran.signal() }
        XCTAssertEqual(ran.wait(timeout: .now() + 5), .success)
        return result.withLock { $0 }!
    }

    /// An fd closed and reused (same number, same slot) gets only its new handler's events, and
    /// the old registration, still held by its owner, can neither change nor remove the new one.
    func testReadinessAndStaleRegistration() throws {
        let loop = group.loops[0]
        var old: [Int32] = [0, 0]
        XCTAssertEqual(pipe(&old), 0)
        let fd = old[0]
        SocketIO.setNonBlocking(fd: fd)
        let oldGot = Locked<[UInt8]>([])
        let oldRead = DispatchSemaphore(value: 0)
        let oldReader = PipeReader(fd: fd) { bytes in oldGot.withLock { $0 += bytes }; oldRead.signal() }
        let stale = try XCTUnwrap(onLoop(loop) { try? loop.register(fd: fd, interest: .readable, handler: oldReader) })
        _ = [UInt8(7)].withUnsafeBytes { write(old[1], $0.baseAddress, 1) }
        XCTAssertEqual(oldRead.wait(timeout: .now() + 5), .success)
        XCTAssertEqual(oldGot.withLock { $0 }, [7])
        onLoop(loop) { loop.deregister(stale); loop.deregister(stale) }  // idempotent
        close(old[0]); close(old[1])

        // The same fd number again, for a new pipe: a reused fd, as after accept().
        var new: [Int32] = [0, 0]
        XCTAssertEqual(pipe(&new), 0)
        if new[0] != fd {
            XCTAssertEqual(dup2(new[0], fd), fd)
            close(new[0])
            new[0] = fd
        }
        defer { close(new[0]); close(new[1]) }
        SocketIO.setNonBlocking(fd: fd)
        let newGot = Locked<[UInt8]>([])
        let newRead = DispatchSemaphore(value: 0)
        let newReader = PipeReader(fd: fd) { bytes in newGot.withLock { $0 += bytes }; newRead.signal() }
        let fresh = try XCTUnwrap(onLoop(loop) { try? loop.register(fd: fd, interest: .readable, handler: newReader) })
        XCTAssertEqual(fresh.slot, stale.slot, "the slot is reused too: only the generation tells them apart")
        onLoop(loop) {
            loop.setInterest([], for: stale)  // the old owner, late: must not silence the new registration
            loop.deregister(stale)            // nor remove it
        }
        _ = [UInt8(8)].withUnsafeBytes { write(new[1], $0.baseAddress, 1) }
        XCTAssertEqual(newRead.wait(timeout: .now() + 5), .success, "the new registration still gets its events")
        XCTAssertEqual(newGot.withLock { $0 }, [8])
        XCTAssertEqual(oldGot.withLock { $0 }, [7], "the old handler got nothing of the reused fd")
        onLoop(loop) { loop.deregister(fresh) }
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

/// Why `Registration.none` exists: an optional registration pads to 12 bytes.
final class RegistrationLayoutTests: XCTestCase {
    func testAnOptionalRegistrationCostsMoreThanThePlainValue() {
        XCTAssertEqual(MemoryLayout<Registration>.stride, 8)
        XCTAssertEqual(MemoryLayout<Registration?>.stride, 12)
    }
}

final class WriteQueueReuseTests: XCTestCase {
    /// A written chunk's storage comes back empty from `takeBuffer` for the next response;
    /// not on a queue that releases its storage when drained (WebSockets), and never while
    /// the bytes are still shared.
    func testWrittenChunkStorageIsReusedForTheNextResponse() throws {
        var fds: [Int32] = [0, 0]
        XCTAssertEqual(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &fds), 0)
        defer { close(fds[0]); close(fds[1]) }
        var queue = WriteQueue()
        XCTAssertEqual(queue.takeBuffer().capacity, 0, "nothing written yet")
        var first = queue.takeBuffer()
        first.append(contentsOf: Array(repeating: 7, count: 100))
        let storage = first.withUnsafeBufferPointer { UInt(bitPattern: $0.baseAddress) }
        queue.append(consume first)
        XCTAssertEqual(queue.flush(fd: fds[0]), .drained)
        let reused = queue.takeBuffer()
        XCTAssertTrue(reused.isEmpty)
        XCTAssertGreaterThanOrEqual(reused.capacity, 100)
        XCTAssertEqual(reused.withUnsafeBufferPointer { UInt(bitPattern: $0.baseAddress) }, storage, "the same storage, not a copy")
        XCTAssertEqual(queue.takeBuffer().capacity, 0, "taken once")

        let kept: [UInt8] = Array(repeating: 9, count: 50)
        queue.append(kept)  // `kept` still holds the storage: it must not be emptied under it
        XCTAssertEqual(queue.flush(fd: fds[0]), .drained)
        XCTAssertEqual(kept, Array(repeating: 9, count: 50))

        var webSocket = WriteQueue()
        webSocket.releasesWhenDrained = true
        webSocket.append(Array(repeating: 1, count: 64))
        XCTAssertEqual(webSocket.flush(fd: fds[0]), .drained)
        XCTAssertEqual(webSocket.takeBuffer().capacity, 0)
        var buffer = [UInt8](repeating: 0, count: 512)
        XCTAssertEqual(recv(fds[1], &buffer, 512, 0), 214)
    }
}
