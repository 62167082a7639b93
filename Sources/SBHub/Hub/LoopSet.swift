/// A set of event-loop indexes `0..<capacity` (bit i = loop i), sized from the loop count
/// (`THREADS`, 1–256): which loops have a subscriber of a session. Loops 0–63 live in one
/// inline word, so up to 64 loops a set allocates nothing; each further 64 loops add a word.
struct LoopSet: Equatable, Sendable {
    private var low: UInt64 = 0
    private var high: [UInt64]

    /// An empty set able to hold loops `0..<capacity` (at least 1).
    init(capacity: Int) {
        high = Array(repeating: 0, count: max(0, (capacity - 1) / 64))
    }

    /// How many loops the set can hold: a multiple of 64, at least the requested capacity.
    var capacity: Int { 64 * (high.count + 1) }

    var isEmpty: Bool { low == 0 && high.allSatisfy { $0 == 0 } }

    /// False for any index outside `0..<capacity`.
    func contains(_ loop: Int) -> Bool {
        guard loop >= 0, loop < capacity else { return false }
        let bit = UInt64(1) << UInt64(loop & 63)
        return (loop < 64 ? low : high[loop / 64 - 1]) & bit != 0
    }

    /// Adds (true) or removes (false) `loop`, which must be inside `0..<capacity`.
    mutating func set(_ loop: Int, _ member: Bool) {
        precondition(loop >= 0 && loop < capacity, "loop \(loop) outside a LoopSet of \(capacity)")
        let bit = UInt64(1) << UInt64(loop & 63)
        if loop < 64 {
            low = member ? low | bit : low & ~bit
        } else {
            let word = loop / 64 - 1
            high[word] = member ? high[word] | bit : high[word] & ~bit
        }
    }
}
