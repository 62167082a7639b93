/// Something that belongs to one session (a subscription).
protocol SessionScoped: AnyObject {
    var sessionId: String { get }
}

extension Subscription: SessionScoped {}

/// A client's subscriptions.
typealias SubscriptionSet = SessionTable<Subscription>

/// Values by their session id. Most dashboards watch one session, and a dictionary costs a
/// hash table allocation per connection even for one entry, so one value is held inline and
/// the table exists only from the second on.
struct SessionTable<Value: SessionScoped>: Sequence {
    private enum Storage {
        case empty
        case one(Value)
        case many([String: Value])
    }

    private var storage = Storage.empty

    init() {}

    var count: Int {
        switch storage {
        case .empty: 0
        case .one: 1
        case .many(let table): table.count
        }
    }

    var isEmpty: Bool { count == 0 }

    subscript(sessionId: String) -> Value? {
        get {
            switch storage {
            case .empty: nil
            case .one(let only): only.sessionId == sessionId ? only : nil
            case .many(let table): table[sessionId]
            }
        }
        set {
            if let newValue { insert(newValue, for: sessionId) } else { removeValue(forKey: sessionId) }
        }
    }

    private mutating func insert(_ subscription: Value, for sessionId: String) {
        switch storage {
        case .empty:
            storage = .one(subscription)
        case .one(let only):
            if only.sessionId == sessionId {
                storage = .one(subscription)
            } else {
                storage = .many([only.sessionId: only, sessionId: subscription])
            }
        case .many(var table):
            storage = .empty  // keep the table uniquely referenced while it changes
            table[sessionId] = subscription
            storage = .many(table)
        }
    }

    @discardableResult
    mutating func removeValue(forKey sessionId: String) -> Value? {
        switch storage {
        case .empty:
            return nil
        case .one(let only):
            guard only.sessionId == sessionId else { return nil }
            storage = .empty
            return only
        case .many(var table):
            storage = .empty
            let removed = table.removeValue(forKey: sessionId)
            storage = table.isEmpty ? .empty : .many(table)
            return removed
        }
    }

    mutating func removeAll() {
        storage = .empty
    }

    var values: [Value] {
        switch storage {
        case .empty: []
        case .one(let only): [only]
        case .many(let table): Array(table.values)
        }
    }

    func makeIterator() -> IndexingIterator<[(key: String, value: Value)]> {
        values.map { (key: $0.sessionId, value: $0) }.makeIterator()
    }
}
