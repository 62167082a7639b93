import Foundation

/// N event loops, each on its own thread. Loops share nothing; cross-loop work goes through
/// `EventLoop.execute`.
public final class EventLoopGroup: Sendable {
    public let loops: [EventLoop]
    private let finished = DispatchGroup()

    public init(count: Int) throws(IOError) {
        var loops: [EventLoop] = []
        for i in 0..<max(count, 1) {
            loops.append(try EventLoop(index: i))
        }
        self.loops = loops
    }

    /// Starts one thread per loop. `onExit` runs on each loop thread if its loop fails.
    public func start(onError: @escaping @Sendable (EventLoop, IOError) -> Void = { _, _ in }) {
        for loop in loops {
            finished.enter()
            let thread = Thread { [finished] in
                do throws(IOError) {
                    try loop.run()
                } catch {
                    onError(loop, error)
                }
                finished.leave()
            }
            thread.name = "switchboard-loop-\(loop.index)"
            thread.stackSize = 1 << 20
            thread.start()
        }
    }

    public func stopAll() {
        for loop in loops { loop.stop() }
    }

    /// Blocks the calling (non-loop) thread until every loop has returned from `run()`.
    public func waitUntilStopped() {
        finished.wait()
    }
}
