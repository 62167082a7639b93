/// Reconnect delays: 100 ms doubling to a 3 s cap, each with ±20 % jitter so that the instances
/// of a cluster, all cut off by the same Redis restart, do not reconnect in lockstep.
/// Pure: the caller supplies the random number, tests supply fixed ones.
public struct Backoff: Sendable, Equatable {
    public let initialMilliseconds: Int
    public let capMilliseconds: Int
    /// The base of the next delay.
    public private(set) var currentMilliseconds: Int

    public init(initialMilliseconds: Int = 100, capMilliseconds: Int = 3000) {
        self.initialMilliseconds = initialMilliseconds
        self.capMilliseconds = capMilliseconds
        currentMilliseconds = initialMilliseconds
    }

    /// The delay before the next attempt (`random` in 0..<1), never above the cap; the base then
    /// doubles.
    public mutating func next(random: Double) -> Int {
        let jittered = Double(currentMilliseconds) * (0.8 + 0.4 * min(max(random, 0), 1))
        currentMilliseconds = min(currentMilliseconds * 2, capMilliseconds)
        return min(capMilliseconds, max(1, Int(jittered)))
    }

    /// After a connection became usable again.
    public mutating func reset() {
        currentMilliseconds = initialMilliseconds
    }
}
