import Foundation

/// N event loops, each on its own thread. Loops share nothing; cross-loop work goes through
/// `EventLoop.execute`.
public final class EventLoopGroup: @unchecked Sendable {
    public let loops: [EventLoop]
    /// Loops still running, guarded by `condition`. (A pthread condition: libdispatch's group
    /// wait spins on Linux and would burn a core while the process is up.)
    private let condition = NSCondition()
    private var running = 0

    public init(count: Int) throws(IOError) {
        var loops: [EventLoop] = []
        for i in 0..<max(count, 1) {
            loops.append(try EventLoop(index: i))
        }
        self.loops = loops
    }

    /// Starts one thread per loop. `onExit` runs on each loop thread if its loop fails.
    public func start(onError: @escaping @Sendable (EventLoop, IOError) -> Void = { _, _ in }) {
        condition.lock()
        running = loops.count
        condition.unlock()
        for loop in loops {
            let thread = Thread { [self] in
                do throws(IOError) {
                    try loop.run()
                } catch {
                    onError(loop, error)
                }
                condition.lock()
                running -= 1
                condition.broadcast()
                condition.unlock()
            }
            thread.name = "switchboard-loop-\(loop.index)"
            // 8 MiB of address space (only touched pages cost memory): the JSON scanner recurses
            // up to its depth limit (512), and debug builds under ASan need ~2 KiB a level.
            thread.stackSize = 8 << 20
            thread.start()
        }
    }

    public func stopAll() {
        for loop in loops { loop.stop() }
    }

    /// Blocks the calling (non-loop) thread until every loop has returned from `run()`.
    public func waitUntilStopped() {
        condition.lock()
        while running > 0 { condition.wait() }
        condition.unlock()
    }
}
