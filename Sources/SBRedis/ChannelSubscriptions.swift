/// The per-session channels one subscriber connection wants (REDIS_CHANNEL_MODE=session), as a
/// value: each call returns what to send. Redis is told at most one thing at a time per channel:
/// a channel wanted again while its UNSUBSCRIBE is unanswered is subscribed again only once that
/// answer arrived, so each confirmation Redis sends for the channel answers exactly one thing we
/// asked for (a SUBSCRIBE sent before it would be confirmed, then seemingly undone by the late
/// unsubscribe confirmation).
///
///     (absent) ─want→ subscribing ─confirmed→ subscribed ─unwant→ unsubscribing ─confirmed→ (absent)
///        ↑ not connected: pending                  unsubscribing ─want→ unsubscribing(again) ─confirmed→ subscribing
///
/// A confirmation says whether the session must be refilled from history: a channel joined
/// while events flow may have missed the ones published between the subscriber's read and the
/// SUBSCRIBE; after a reconnect the whole instance refills anyway, so those do not.
public struct ChannelSubscriptions: Sendable, Equatable {
    public enum State: Equatable, Sendable {
        /// Wanted while the connection is down: sent when it is back.
        case pending
        case subscribing(refill: Bool)
        case subscribed
        /// UNSUBSCRIBE sent; `again`: wanted once more meanwhile.
        case unsubscribing(again: Bool)
    }

    public enum Action: Equatable, Sendable {
        case none
        case subscribe([String])
        case unsubscribe([String])
        /// Redis confirmed the channel; refill its session from history when `refill`.
        case confirmed(String, refill: Bool)
        /// Redis let go of a channel we hold, unasked: Redis Cluster's `sunsubscribe` when the
        /// channel's slot moved to another master. It is forgotten here; the owner subscribes
        /// it again where the slot went.
        case dropped(String)
    }

    public private(set) var channels: [String: State] = [:]
    public private(set) var connected = false

    public init() {}

    public mutating func want(_ channel: String) -> Action {
        switch channels[channel] {
        case nil:
            guard connected else {
                channels[channel] = .pending
                return .none
            }
            channels[channel] = .subscribing(refill: true)
            return .subscribe([channel])
        case .unsubscribing:
            channels[channel] = .unsubscribing(again: true)
            return .none
        case .pending, .subscribing, .subscribed:
            return .none
        }
    }

    public mutating func unwant(_ channel: String) -> Action {
        switch channels[channel] {
        case nil:
            return .none
        case .pending:
            channels[channel] = nil
            return .none
        case .subscribing, .subscribed:
            guard connected else {
                channels[channel] = nil
                return .none
            }
            channels[channel] = .unsubscribing(again: false)
            return .unsubscribe([channel])
        case .unsubscribing:
            channels[channel] = .unsubscribing(again: false)
            return .none
        }
    }

    public mutating func subscribeConfirmed(_ channel: String) -> Action {
        guard case .subscribing(let refill) = channels[channel] else { return .none }
        channels[channel] = .subscribed
        return .confirmed(channel, refill: refill)
    }

    public mutating func unsubscribeConfirmed(_ channel: String) -> Action {
        switch channels[channel] {
        case .subscribed, .subscribing:
            channels[channel] = nil
            return .dropped(channel)
        default:
            break
        }
        guard case .unsubscribing(let again) = channels[channel] else { return .none }
        guard again, connected else {
            channels[channel] = again ? .pending : nil
            return .none
        }
        channels[channel] = .subscribing(refill: true)
        return .subscribe([channel])
    }

    /// The connection is ready: subscribe everything wanted, in one command. `refill` false
    /// when the owner refills every session after this reconnect anyway.
    public mutating func connectionReady(refill: Bool) -> Action {
        connected = true
        var send: [String] = []
        for (channel, state) in channels {
            if case .unsubscribing(false) = state {
                channels[channel] = nil
                continue
            }
            channels[channel] = .subscribing(refill: refill)
            send.append(channel)
        }
        return send.isEmpty ? .none : .subscribe(send.sorted())
    }

    /// The connection dropped: Redis forgot every subscription of it.
    public mutating func connectionLost() {
        connected = false
        for (channel, state) in channels {
            if case .unsubscribing(false) = state {
                channels[channel] = nil
            } else {
                channels[channel] = .pending
            }
        }
    }
}
