import Foundation

/// Where a key of the standalone layout goes in the cluster layout (`switchboard migrate`):
/// both names come from `RedisKeys`, so the tool and the store cannot disagree.
public enum RedisKeyMigration {
    public enum Destination: Equatable, Sendable {
        /// Copy the key under this name.
        case key(String)
        /// A chain record: copied under `key` (its session's slot), plus the pointer by chain
        /// id, `pointer` → `sessionId`.
        case chain(key: String, pointer: String, sessionId: String)
        /// The sessions index: its entries are added to the cluster's index.
        case sessionIndex(String)
        /// Not copied: the instance registry (rebuilt by the instances' heartbeats within
        /// seconds) and keys that are not the hub's.
        case skip
    }

    /// `chainSession` reads a chain record's `sessionId` (a GET on the source).
    public static func destination(ofStandaloneKey key: String, prefix: String,
                                   chainSession: (String) throws -> String?) rethrows -> Destination {
        let old = RedisKeys(prefix: prefix)
        let new = RedisKeys(prefix: prefix, layout: .cluster)
        guard key.hasPrefix(prefix) else { return .skip }
        if key == old.sessionIndex { return .sessionIndex(new.sessionIndex) }
        let rest = key.dropFirst(prefix.count)
        guard let colon = rest.firstIndex(of: ":") else { return .skip }
        let kind = rest[..<colon]
        let tail = String(rest[rest.index(after: colon)...])
        guard !tail.isEmpty else { return .skip }
        switch kind {
        case "sessions": return .key(new.session(tail))
        case "events": return .key(new.events(tail))
        case "seq": return .key(new.seq(tail))
        case "times": return .key(new.times(tail))
        case "epoch": return .key(new.epoch(tail))
        case "chains": return .key(new.chains(tail))
        case "commands": return .key(new.queue(.commands, tail))
        case "input": return .key(new.queue(.input, tail))
        case "command": return .key(new.command(tail))
        case "idem":
            // idem:<sid>:k:<key> | idem:<sid>:e:<eventId> (the hub's two kinds); a session id
            // containing ":k:" or ":e:" would be cut short, so its short-lived records are left.
            let cut = [tail.range(of: ":k:"), tail.range(of: ":e:")].compactMap { $0 }.min { $0.lowerBound < $1.lowerBound }
            guard let cut else { return .skip }
            let sessionId = String(tail[..<cut.lowerBound])
            return .key(new.idempotency(sessionId, String(tail[tail.index(after: cut.lowerBound)...])))
        case "chain":
            guard let sessionId = try chainSession(key) else { return .skip }
            return .chain(key: new.chain(tail, sessionId: sessionId), pointer: new.chainSession(tail), sessionId: sessionId)
        default:
            return .skip
        }
    }
}
