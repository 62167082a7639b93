/// Which shard a session lives on: Lamping and Veach's jump consistent hash of a 64-bit
/// FNV-1a hash of its id. Going from n to n+1 shards moves only about 1/(n+1) of the sessions
/// (all of them to the new shard); `switchboard reshard` moves them.
public struct ShardRouter: Sendable, Equatable {
    public let count: Int

    public init(count: Int) {
        precondition(count >= 1, "at least one shard")
        self.count = count
    }

    public func shard(of sessionId: String) -> Int {
        count == 1 ? 0 : JumpHash.bucket(Self.key(sessionId), buckets: count)
    }

    /// FNV-1a, 64 bits, over the id's UTF-8 bytes: stable across processes and versions
    /// (Swift's own `Hasher` is seeded per process).
    static func key(_ id: String) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in id.utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x0000_0100_0000_01b3
        }
        return hash
    }
}

/// "A Fast, Minimal Memory, Consistent Hash Algorithm" (Lamping, Veach 2014).
public enum JumpHash {
    public static func bucket(_ key: UInt64, buckets: Int) -> Int {
        var key = key
        var b: Int64 = -1
        var j: Int64 = 0
        while j < Int64(buckets) {
            b = j
            key = key &* 2_862_933_555_777_941_757 &+ 1
            j = Int64(Double(b &+ 1) * (Double(Int64(1) << 31) / Double((key >> 33) &+ 1)))
        }
        return Int(b)
    }
}
