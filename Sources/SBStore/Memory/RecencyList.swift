/// Keys in the order they were last written, oldest first, with the time of that write: the
/// memory store's eviction order. A doubly linked list threaded through an array (slots of
/// removed keys are reused) plus a key → slot map, so touch, remove and oldest are O(1).
struct RecencyList {
    private struct Slot {
        var key: String
        var writtenAt: Int64
        var previous: Int
        var next: Int
    }

    private static let none = -1
    private var slots: [Slot] = []
    private var freeSlots: [Int] = []
    private var slotOf: [String: Int] = [:]
    private var head = RecencyList.none
    private var tail = RecencyList.none

    var count: Int { slotOf.count }

    func contains(_ key: String) -> Bool { slotOf[key] != nil }

    /// The oldest key and when it was written.
    var oldest: (key: String, writtenAt: Int64)? {
        head == Self.none ? nil : (slots[head].key, slots[head].writtenAt)
    }

    /// Makes `key` the newest, written at `now` (added when absent).
    mutating func touch(_ key: String, now: Int64) {
        if let slot = slotOf[key] {
            unlink(slot)
            slots[slot].writtenAt = now
            append(slot)
            return
        }
        let slot: Int
        if let reused = freeSlots.popLast() {
            slot = reused
            slots[slot] = Slot(key: key, writtenAt: now, previous: Self.none, next: Self.none)
        } else {
            slot = slots.count
            slots.append(Slot(key: key, writtenAt: now, previous: Self.none, next: Self.none))
        }
        slotOf[key] = slot
        append(slot)
    }

    /// Adds `key` as the newest when absent; leaves its place alone otherwise.
    mutating func insertIfAbsent(_ key: String, now: Int64) {
        if slotOf[key] == nil { touch(key, now: now) }
    }

    mutating func remove(_ key: String) {
        guard let slot = slotOf.removeValue(forKey: key) else { return }
        unlink(slot)
        slots[slot].key = ""  // release the string
        freeSlots.append(slot)
        // Give the arrays back once the list is empty (their size is the peak count otherwise).
        if slotOf.isEmpty {
            slots = []
            freeSlots = []
        }
    }

    /// Keys oldest first (for tests and diagnostics: O(n)).
    var keys: [String] {
        var out: [String] = []
        var slot = head
        while slot != Self.none {
            out.append(slots[slot].key)
            slot = slots[slot].next
        }
        return out
    }

    private mutating func unlink(_ slot: Int) {
        let previous = slots[slot].previous
        let next = slots[slot].next
        if previous == Self.none { head = next } else { slots[previous].next = next }
        if next == Self.none { tail = previous } else { slots[next].previous = previous }
        slots[slot].previous = Self.none
        slots[slot].next = Self.none
    }

    private mutating func append(_ slot: Int) {
        slots[slot].previous = tail
        slots[slot].next = Self.none
        if tail == Self.none { head = slot } else { slots[tail].next = slot }
        tail = slot
    }
}
