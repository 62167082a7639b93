import SBCrypto
import Synchronization

/// Ids for events, sessions, chains, commands and clients, in UUID text form. A random 64-bit
/// prefix per process plus a counter: unique across instances and cheap enough for the hot path
/// (no random-number syscall per id).
enum IDGenerator {
    private static let prefix: UInt64 = SecureRandom.bytes(8).reduce(0) { $0 << 8 | UInt64($1) }
    private static let counter = Atomic<UInt64>(SecureRandom.bytes(4).reduce(0) { $0 << 8 | UInt64($1) })
    private static let hex = Array("0123456789abcdef".utf8)

    static func next() -> String {
        let n = counter.wrappingAdd(1, ordering: .relaxed).newValue
        var out = [UInt8](repeating: UInt8(ascii: "-"), count: 36)
        var k = 0
        func put(_ value: UInt64, nibbles: Int) {
            for shift in stride(from: (nibbles - 1) * 4, through: 0, by: -4) {
                if k == 8 || k == 13 || k == 18 || k == 23 { k += 1 }
                out[k] = hex[Int((value >> UInt64(shift)) & 0xF)]
                k += 1
            }
        }
        put(prefix, nibbles: 16)
        put(n, nibbles: 16)
        return String(decoding: out, as: UTF8.self)
    }
}
