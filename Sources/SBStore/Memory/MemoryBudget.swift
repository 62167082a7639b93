/// How much the memory store may hold (MEMORY_STORE_MAX_BYTES, counted as `MemoryFootprint`
/// says) and what happens at the limit (MEMORY_STORE_EVICTION): the least recently written
/// sessions without a local subscriber are evicted whole, or new writes are refused (507).
public struct MemoryBudget: Sendable, Equatable {
    public var maxBytes: Int
    public var evicts: Bool

    public init(maxBytes: Int, evicts: Bool) {
        self.maxBytes = maxBytes
        self.evicts = evicts
    }

    /// No limit: for tests that are not about the budget.
    public static let unlimited = MemoryBudget(maxBytes: .max, evicts: true)

    /// The smallest default, for machines (or cgroups) with little memory.
    public static let defaultFloorBytes = 64 << 20

    /// The default budget: a quarter of the memory this process may use — the machine's
    /// (MemTotal) or its cgroup's limit when that is lower — and at least 64 MiB. A quarter
    /// leaves room for the rest of the process (connections, send queues, the allocator's
    /// fragmentation) and for other processes.
    public static func defaultMaxBytes(memTotal: Int?, cgroupLimit: Int?) -> Int {
        let available = [memTotal, cgroupLimit].compactMap { $0 }.filter { $0 > 0 }.min()
        guard let available else { return defaultFloorBytes }
        return max(available / 4, defaultFloorBytes)
    }
}
