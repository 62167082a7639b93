import SBCore
import SBCrypto
import Synchronization

/// Ids for events, sessions, chains, commands and clients: RFC 9562 UUIDs, version 7, so ids
/// sort by creation time and strict validators accept them.
///
/// Layout (RFC 9562 §5.7, counter method 1 of §6.2): 48-bit Unix milliseconds, version 7,
/// 12 bits of a sub-millisecond counter, variant 10, then 62 bits: a random 30-bit per-process
/// value and a 32-bit sequence. The time-and-counter part comes from one atomic that only goes
/// up, so ids from one process are strictly increasing even when the clock steps back or many
/// ids share a millisecond (the counter then borrows from the next millisecond, as §6.2 allows);
/// the random part keeps instances apart. No random-number call per id.
enum IDGenerator {
    private static let processBits: UInt64 = SecureRandom.bytes(4).reduce(0) { $0 << 8 | UInt64($1) } & 0x3FFF_FFFF
    /// (milliseconds << 12 | counter) of the last id.
    private static let clock = Atomic<UInt64>(0)
    private static let sequence = Atomic<UInt32>(0)

    static func next() -> String {
        format(uuid: nextBits())
    }

    /// The 128 bits of the next id, high then low.
    static func nextBits() -> (UInt64, UInt64) {
        let now = UInt64(max(WallClock.millisecondsSinceEpoch(), 0)) << 12
        var current = clock.load(ordering: .relaxed)
        var next = max(now, current &+ 1)
        while true {
            let (exchanged, original) = clock.compareExchange(expected: current, desired: next, ordering: .relaxed)
            if exchanged { break }
            current = original
            next = max(now, current &+ 1)
        }
        let millis = next >> 12
        let counter = next & 0xFFF
        let high = (millis & 0xFFFF_FFFF_FFFF) << 16 | 0x7000 | counter
        let seq = UInt64(sequence.wrappingAdd(1, ordering: .relaxed).newValue)
        let low = 0x8000_0000_0000_0000 | processBits << 32 | seq
        return (high, low)
    }

    /// 8-4-4-4-12 lowercase hex, written straight into the string's storage.
    static func format(uuid: (UInt64, UInt64)) -> String {
        String(unsafeUninitializedCapacity: 36) { out in
            var k = 0
            for half in 0..<2 {
                let value = half == 0 ? uuid.0 : uuid.1
                var shift = 60
                while shift >= 0 {
                    if k == 8 || k == 13 || k == 18 || k == 23 {
                        out[k] = UInt8(ascii: "-")
                        k += 1
                    }
                    // Arithmetic, not a table: a global table is a lazy global, checked per digit.
                    let digit = UInt8(truncatingIfNeeded: value >> UInt64(shift)) & 0xF
                    out[k] = digit < 10 ? 0x30 + digit : 0x57 + digit  // "0"..."9", "a"..."f"
                    k += 1
                    shift -= 4
                }
            }
            return 36
        }
    }
}
