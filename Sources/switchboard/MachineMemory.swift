import Foundation
import SBStore

/// How much memory this process may use, for MEMORY_STORE_MAX_BYTES's default: the machine's
/// MemTotal and the cgroup's limit (v2 `memory.max`, else v1 `memory.limit_in_bytes`), when
/// they can be read.
enum MachineMemory {
    /// The largest MEMORY_STORE_MAX_BYTES accepted (1 TiB); the default never exceeds it.
    static let maxBudgetBytes = 1 << 40

    static func defaultStoreBudget() -> Int {
        min(MemoryBudget.defaultMaxBytes(memTotal: memTotal(), cgroupLimit: cgroupLimit()), maxBudgetBytes)
    }

    /// `MemTotal:` of /proc/meminfo, in bytes.
    static func memTotal() -> Int? {
        guard let text = try? String(contentsOfFile: "/proc/meminfo", encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix("MemTotal:") {
            let fields = line.split(separator: " ")
            guard fields.count >= 2, let kilobytes = Int(fields[1]) else { return nil }
            return kilobytes * 1024
        }
        return nil
    }

    /// The cgroup's memory limit in bytes; nil when there is none ("max", or v1's huge "unlimited").
    static func cgroupLimit() -> Int? {
        for path in ["/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"] {
            guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { continue }
            guard let bytes = Int(text.trimmingCharacters(in: .whitespacesAndNewlines)), bytes < 1 << 60 else { return nil }
            return bytes
        }
        return nil
    }
}
