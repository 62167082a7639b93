import SBStore

/// Decides, per session on one loop, how joins and leaves reach the session's presence
/// watchers, so that a mass reconnect (thousands of joins in a second) does not flood them.
/// A value that takes events and returns actions, with the clock passed in (milliseconds):
/// tested by tables, no sockets, no timers.
///
/// The rule (README, Presence):
/// - Up to `individualPerWindow` changes of a session per `windowMillis` (20 per second) go out
///   one by one, as `presence_join` / `presence_leave`, at once.
/// - Past that, changes wait and go out as one `presence_diff` at the end of the window. While
///   changes keep coming, the session stays batched: at most one `presence_diff` per window. A
///   window with no change returns it to one-by-one.
/// - A batch is net: a client that joins and leaves within it is in neither list. It lists at
///   most `maxListed` joins and `maxListed` leaves; the rest are only counted (`omittedJoins`,
///   `omittedLeaves`: ask for `presence` to see them). Leaves apply before joins.
/// - State exists only for sessions with recent changes and watchers, and at most one batch
///   each: `prune` forgets quiet sessions, `forget` a session whose last watcher left.
struct PresenceCoalescer {
    static let individualPerWindow = 20
    static let windowMillis: Int64 = 1000
    static let maxListed = 100

    enum Notice: Equatable {
        case join(PresenceEntry)
        case leave(PresenceEntry)
        case diff(joins: [PresenceEntry], leaves: [PresenceEntry], omittedJoins: Int, omittedLeaves: Int)
    }

    enum Action: Equatable {
        /// Send this to the session's watchers now.
        case send(Notice)
        /// Call `flush` for the session at this time (ms); asked once per batch.
        case flush(at: Int64)
    }

    struct Batch: Equatable {
        var joins: [PresenceEntry] = []
        var leaves: [PresenceEntry] = []
        var omittedJoins = 0
        var omittedLeaves = 0
    }

    struct Session: Equatable {
        var windowStart: Int64
        /// Changes sent one by one in this window (`individualPerWindow` once batched).
        var sent: Int
        var batch: Batch?
    }

    private(set) var sessions: [String: Session] = [:]

    mutating func received(sessionId: String, joins: [PresenceEntry], leaves: [PresenceEntry], now: Int64) -> [Action] {
        let changes = joins.count + leaves.count
        guard changes > 0 else { return [] }
        var session = sessions[sessionId] ?? Session(windowStart: now, sent: 0, batch: nil)
        if session.batch == nil, now - session.windowStart >= Self.windowMillis {
            session.windowStart = now
            session.sent = 0
        }
        defer { sessions[sessionId] = session }
        if session.batch == nil, session.sent + changes <= Self.individualPerWindow {
            session.sent += changes
            return leaves.map { .send(.leave($0)) } + joins.map { .send(.join($0)) }
        }
        var actions: [Action] = []
        var batch = session.batch ?? {
            actions.append(.flush(at: session.windowStart + Self.windowMillis))
            return Batch()
        }()
        for leave in leaves {
            if let index = batch.joins.firstIndex(where: { $0.clientId == leave.clientId }) {
                batch.joins.remove(at: index)  // joined and left within the batch: neither
            } else if batch.leaves.count < Self.maxListed {
                batch.leaves.append(leave)
            } else {
                batch.omittedLeaves += 1
            }
        }
        for join in joins {
            if batch.joins.count < Self.maxListed {
                batch.joins.append(join)
            } else {
                batch.omittedJoins += 1
            }
        }
        session.batch = batch
        return actions
    }

    /// The batch's window ended: one `presence_diff` (none when everything in it cancelled
    /// out), and the session stays batched for one more window.
    mutating func flush(sessionId: String, now: Int64) -> [Action] {
        guard var session = sessions[sessionId], let batch = session.batch else { return [] }
        session.batch = nil
        session.windowStart = now
        session.sent = Self.individualPerWindow
        sessions[sessionId] = session
        guard !batch.joins.isEmpty || !batch.leaves.isEmpty || batch.omittedJoins > 0 || batch.omittedLeaves > 0 else { return [] }
        return [.send(.diff(joins: batch.joins, leaves: batch.leaves, omittedJoins: batch.omittedJoins, omittedLeaves: batch.omittedLeaves))]
    }

    /// Forgets sessions whose window has passed with nothing waiting.
    mutating func prune(now: Int64) {
        sessions = sessions.filter { $0.value.batch != nil || now - $0.value.windowStart < Self.windowMillis }
    }

    /// The session's last watcher on this loop left: nothing is sent for it any more.
    mutating func forget(sessionId: String) {
        sessions[sessionId] = nil
    }
}
