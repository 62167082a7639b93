import Synchronization

/// Epoch strings: opaque to clients, unique across processes and restarts. A random 36-bit
/// process prefix plus a 24-bit counter, as 15 hex digits (a Swift small string: compared on
/// every delivery without touching the heap). No random-number call per append: the Redis
/// append script receives a candidate with every batch and uses it only when a stream starts.
public enum StreamEpoch {
    private static let prefix = UInt64.random(in: 0..<(1 << 36))
    private static let counter = Atomic<UInt64>(UInt64.random(in: 0..<(1 << 24)))
    private static let hex = Array("0123456789abcdef".utf8)

    public static func next() -> String {
        let value = prefix << 24 | (counter.wrappingAdd(1, ordering: .relaxed).newValue & 0xFF_FFFF)
        var out = [UInt8](repeating: 0, count: 15)
        for i in 0..<15 { out[i] = hex[Int((value >> UInt64(56 - 4 * i)) & 0xF)] }
        return String(decoding: out, as: UTF8.self)
    }
}
