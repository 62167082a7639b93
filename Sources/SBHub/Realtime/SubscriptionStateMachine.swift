import SBWebSocket
import DequeModule
import SBCore
import SBServer
import SBStore

/// Where one subscription stands in its session's stream, and what to do next. A value that
/// takes events (subscribe, a page read, a live message, a reset, a resync) and returns
/// actions; `Subscription` performs them. No sockets, no store, no clock: tested by tables.
///
/// The rules it keeps:
/// - `position` is the last seq this subscriber has been given (or chose to skip). A live or
///   replayed event is sent only when its seq is above it, so nothing is sent twice.
/// - Live messages that arrive while a read is pending are held and released after the replay,
///   in order. The hold is bounded: past `heldByteLimit` held events are dropped and history is
///   read once more before going live (they are all stored, so nothing is lost).
/// - A live event whose seq skips ahead, or that carries another epoch, means something was
///   missed: history is read from `position` before going on.
/// - History is read page by page; the subscriber's connection paces the pages (see HubClient).
struct SubscriptionStateMachine {
    enum State: Equatable {
        /// Waiting for the first read, which fixes position and epoch (the request is in
        /// `catchUp.start`).
        case starting
        /// Reading history pages until caught up with the stream.
        case replaying
        /// Sending live events as they come.
        case live
    }

    struct Confirmation: Equatable {
        var epoch: String
        var lastSeq: Int64
        var oldestSeq: Int64
        var recovered: Bool
    }

    enum Action: Equatable {
        /// Read the stream after `after`; `events: false` asks only for epoch and seqs.
        case read(after: Int64, events: Bool)
        /// Retry a failed read later (storage unavailable).
        case readLater(after: Int64, events: Bool)
        case confirm(Confirmation)
        /// Send these stored events (a replay page), outside the live cut-off budget.
        case replay([StoredEvent])
        /// Send these live messages (in order), each already in the client's format.
        case send([SharedBytes])
        /// The stream started again under `epoch`: tell the client (`session_deleted`).
        case announceReset(epoch: String)
        /// History stayed unreachable: tell the client its replay is incomplete.
        case reportReplayFailed

        static func == (lhs: Action, rhs: Action) -> Bool {
            switch (lhs, rhs) {
            case let (.read(a, b), .read(c, d)), let (.readLater(a, b), .readLater(c, d)): a == c && b == d
            case let (.confirm(a), .confirm(b)): a == b
            case let (.replay(a), .replay(b)): a == b
            case let (.send(a), .send(b)): a.map(ObjectIdentifier.init) == b.map(ObjectIdentifier.init)
            case let (.announceReset(a), .announceReset(b)): a == b
            case (.reportReplayFailed, .reportReplayFailed): true
            default: false
            }
        }
    }

    struct Held {
        var seq: Int64?
        var epoch: String?
        var message: SharedBytes
        /// Value of `arrivals` when it came: tells whether a read was issued after it.
        var arrival: UInt64
    }

    /// What only a subscription that is not live needs: created when it starts or falls
    /// behind, dropped once it is live with nothing held, so an idle live subscription costs
    /// a few words. Owned by one machine (machines live in their `Subscription` and are never
    /// copied), so a reference is safe here.
    final class CatchUp {
        var start: (lastEventId: Int64?, epoch: String?) = (nil, nil)
        var held = Deque<Held>()
        var heldBytes = 0
        /// Held events were dropped, a reset or a resync came during the replay: read once
        /// more before going live.
        var readAgain = false
        var arrivals: UInt64 = 0
        /// `arrivals` when the pending read was issued.
        var readIssuedAt: UInt64 = 0
        var failures = 0
    }

    // Widest first, the one-byte state last: 33 bytes, so the `Subscription` around it packs
    // its small fields into the tail (idle memory per subscription).
    private(set) var position: Int64 = 0
    private(set) var epoch: String?
    private var catchUp: CatchUp?
    private(set) var state: State = .starting
    static let maxHeldPushes = 256
    static let maxReadFailures = 40

    init() {}

    private mutating func work() -> CatchUp {
        if let catchUp { return catchUp }
        let made = CatchUp()
        catchUp = made
        return made
    }

    private(set) var held: Deque<Held> {
        get { catchUp?.held ?? Deque() }
        _modify { let c = work(); yield &c.held }
        set { work().held = newValue }
    }
    private(set) var heldBytes: Int {
        get { catchUp?.heldBytes ?? 0 }
        set { work().heldBytes = newValue }
    }
    private(set) var readAgain: Bool {
        get { catchUp?.readAgain ?? false }
        set { work().readAgain = newValue }
    }
    private var arrivals: UInt64 {
        get { catchUp?.arrivals ?? 0 }
        set { work().arrivals = newValue }
    }
    private var readIssuedAt: UInt64 {
        get { catchUp?.readIssuedAt ?? 0 }
        set { work().readIssuedAt = newValue }
    }
    private var failures: Int {
        get { catchUp?.failures ?? 0 }
        set { work().failures = newValue }
    }

    var isCatchingUp: Bool { catchUp != nil }

    /// Live with nothing held: the catch-up state can go.
    private mutating func releaseCatchUpIfIdle() {
        if state == .live, let c = catchUp, c.held.isEmpty, !c.readAgain { catchUp = nil }
    }

    // MARK: Events

    /// A `subscribe` message (also a repeated one: it starts over from its own lastEventId).
    mutating func subscribe(lastEventId: Int64?, epoch: String?) -> [Action] {
        state = .starting
        work().start = (lastEventId, epoch)
        readAgain = false
        failures = 0
        return [issueRead(after: lastEventId ?? 0, events: lastEventId != nil)]
    }

    mutating func pageRead(_ page: StreamPage) -> [Action] {
        failures = 0
        var actions: [Action] = []
        var events = page.events
        switch state {
        case .live:
            return []  // a stale answer; nothing is pending
        case .starting:
            let (lastEventId, clientEpoch) = work().start
            epoch = page.epoch
            guard let lastEventId else {
                position = page.lastSeq
                actions.append(.confirm(Confirmation(epoch: page.epoch, lastSeq: page.lastSeq, oldestSeq: page.oldestSeq, recovered: true)))
                dropStaleHeld(currentEpoch: page.epoch)
                actions.append(contentsOf: goLiveOrReadAgain())
                return actions
            }
            let otherEpoch = clientEpoch != nil && clientEpoch != page.epoch
            let ahead = lastEventId > page.lastSeq
            let gap = lastEventId + 1 < page.oldestSeq && page.lastSeq > lastEventId
            let recovered = !(otherEpoch || ahead || gap)
            actions.append(.confirm(Confirmation(epoch: page.epoch, lastSeq: page.lastSeq, oldestSeq: page.oldestSeq, recovered: recovered)))
            state = .replaying
            if otherEpoch || ahead {
                // The client's position means nothing in this stream: start it from the beginning.
                position = 0
                if lastEventId != 0 {
                    actions.append(issueRead(after: 0, events: true))
                    return actions
                }
            } else {
                position = lastEventId
            }
        case .replaying:
            if page.epoch != epoch {
                // The stream started again while we read it.
                epoch = page.epoch
                position = 0
                actions.append(.announceReset(epoch: page.epoch))
                dropStaleHeld(currentEpoch: page.epoch)
                events = events.first?.seq == 1 ? events : []
                if events.isEmpty {
                    actions.append(issueRead(after: 0, events: true))
                    return actions
                }
            }
        }
        let fresh = events.filter { $0.seq > position }
        if let last = fresh.last {
            position = last.seq
            actions.append(.replay(fresh))
        }
        dropStaleHeld(currentEpoch: page.epoch)
        if position < page.lastSeq, !fresh.isEmpty {
            actions.append(issueRead(after: position, events: true))
        } else {
            actions.append(contentsOf: goLiveOrReadAgain())
        }
        return actions
    }

    mutating func readFailed() -> [Action] {
        guard state != .live else { return [] }
        failures += 1
        let events: Bool
        let after: Int64
        if state == .starting {
            let lastEventId = work().start.lastEventId
            events = lastEventId != nil
            after = lastEventId ?? 0
        } else {
            events = true
            after = position
        }
        if failures <= Self.maxReadFailures {
            return [.readLater(after: after, events: events)]
        }
        // Give up on history; live delivery goes on (the client may resume with lastEventId).
        failures = 0
        state = .live
        readAgain = false
        let messages = releaseHeld(anyEpoch: true).messages
        releaseCatchUpIfIdle()
        return [.reportReplayFailed] + (messages.isEmpty ? [] : [.send(messages)])
    }

    /// What `live` decided. `send` and `drop` are the steady state and allocate nothing.
    enum LiveVerdict: Equatable {
        case send
        case drop
        case actions([Action])
    }

    /// A message from the bus for this session: `seq` nil for pushes (commands, input).
    /// `heldByteLimit` bounds what a catching-up subscription holds; passed in rather than
    /// stored (it is the hub's setting, and a stored copy costs every subscription a word),
    /// and read only off the fast path.
    mutating func live(seq: Int64?, epoch eventEpoch: String?, message: SharedBytes, heldByteLimit: @autoclosure () -> Int) -> LiveVerdict {
        if case .live = state, let seq, seq == position + 1, eventEpoch == nil || eventEpoch == epoch {
            position = seq
            return .send
        }
        let actions = liveSlowPath(seq: seq, epoch: eventEpoch, message: message, heldByteLimit: heldByteLimit())
        if actions.count == 1, case .send = actions[0] { return .send }
        return actions.isEmpty ? .drop : .actions(actions)
    }

    private mutating func liveSlowPath(seq: Int64?, epoch eventEpoch: String?, message: SharedBytes, heldByteLimit: Int) -> [Action] {
        guard state == .live else {
            arrivals &+= 1
            hold(Held(seq: seq, epoch: eventEpoch, message: message, arrival: arrivals), limit: heldByteLimit)
            return []
        }
        guard let seq else { return [.send([message])] }
        if let eventEpoch, let epoch, eventEpoch != epoch {
            // Another stream: a reset this instance did not hear, or a stale message. History
            // tells which.
            arrivals &+= 1
            return startCatchUp(holding: Held(seq: seq, epoch: eventEpoch, message: message, arrival: arrivals), heldByteLimit: heldByteLimit)
        }
        guard seq > position else { return [] }
        if seq > position + 1 {
            // Missed events (the bus lost messages): fill the gap from history first.
            arrivals &+= 1
            return startCatchUp(holding: Held(seq: seq, epoch: eventEpoch, message: message, arrival: arrivals), heldByteLimit: heldByteLimit)
        }
        position = seq
        return [.send([message])]
    }

    /// DELETE: the stream starts again under `newEpoch`.
    mutating func reset(epoch newEpoch: String) -> [Action] {
        guard newEpoch != epoch else { return [] }
        guard state == .live else {
            readAgain = true  // the next read shows the new epoch and takes the reset path
            return []
        }
        epoch = newEpoch
        position = 0
        releaseCatchUpIfIdle()
        return [.announceReset(epoch: newEpoch)]
    }

    /// The bus lost messages (Redis resubscribed): fill from this subscription's own position.
    mutating func resynchronize() -> [Action] {
        guard state == .live else {
            readAgain = true
            return []
        }
        state = .replaying
        return [issueRead(after: position, events: true)]
    }

    // MARK: Helpers

    private mutating func issueRead(after: Int64, events: Bool) -> Action {
        readIssuedAt = arrivals
        return .read(after: after, events: events)
    }

    private mutating func startCatchUp(holding item: Held, heldByteLimit: Int) -> [Action] {
        state = .replaying
        hold(item, limit: heldByteLimit)
        return [issueRead(after: position, events: true)]
    }

    private mutating func goLiveOrReadAgain() -> [Action] {
        if readAgain || held.contains(where: { $0.epoch != nil && $0.epoch != epoch }) {
            readAgain = false
            state = .replaying
            return [issueRead(after: position, events: true)]
        }
        let (messages, gap) = releaseHeld(anyEpoch: false)
        var actions: [Action] = messages.isEmpty ? [] : [.send(messages)]
        if gap {
            state = .replaying
            actions.append(issueRead(after: position, events: true))
        } else {
            state = .live
            releaseCatchUpIfIdle()
        }
        return actions
    }

    /// Held events of another epoch that arrived before the last read was issued belong to a
    /// stream that read no longer shows: drop them.
    private mutating func dropStaleHeld(currentEpoch: String) {
        guard held.contains(where: { $0.epoch != nil && $0.epoch != currentEpoch }) else { return }
        let issuedAt = readIssuedAt
        held.removeAll { $0.epoch != nil && $0.epoch != currentEpoch && $0.arrival <= issuedAt }
        heldBytes = held.reduce(0) { $0 + $1.message.count }
    }

    private mutating func hold(_ item: Held, limit: Int) {
        held.append(item)
        heldBytes += item.message.count
        guard heldBytes > limit else { return }
        // Too much arrived during the replay: drop the held events (history has them) and
        // read again before going live; keep the newest pushes, which history does not have.
        held.removeAll { $0.seq != nil }
        while held.count > Self.maxHeldPushes { held.removeFirst() }
        heldBytes = held.reduce(0) { $0 + $1.message.count }
        readAgain = true
    }

    /// Releases held messages in arrival order: events above `position` in this epoch, and
    /// pushes. Stops at a gap (held events were dropped), leaving the rest held: `gap` true.
    private mutating func releaseHeld(anyEpoch: Bool) -> (messages: [SharedBytes], gap: Bool) {
        var messages: [SharedBytes] = []
        while let item = held.first {
            if let seq = item.seq {
                if !anyEpoch, let itemEpoch = item.epoch, let epoch, itemEpoch != epoch {
                    held.removeFirst()
                    continue
                }
                if seq > position + 1, !anyEpoch { break }
                if seq > position {
                    position = seq
                    messages.append(item.message)
                }
            } else {
                messages.append(item.message)
            }
            held.removeFirst()
        }
        heldBytes = held.reduce(0) { $0 + $1.message.count }
        return (messages, !held.isEmpty)
    }
}
