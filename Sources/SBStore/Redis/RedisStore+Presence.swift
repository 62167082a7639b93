import SBRedis

/// Presence under leases (issue 26): each instance's entries expire unless it renews them, so a
/// dead instance's clients leave every presence by themselves (REDIS_INTEGRATION.md, Presence).
extension RedisStore: LeasedPresence {
    public var leasedPresence: (any LeasedPresence)? { self }

    /// How many expired entries one renewal removes at most (the next one takes the rest).
    static let presenceSweepLimit = 1000

    private func presenceKeys(_ sessionId: String) -> [String] {
        [keys.presence(sessionId), keys.presenceEntries(sessionId)]
    }

    /// The publishing arguments every presence script starts with (RedisScripts+Presence). With
    /// session channels, presence goes only to the session's channel: the classic channel
    /// carries events there for an old backend, which has no use for presence.
    private func presencePublishing(_ sessionId: String) -> RedisArguments {
        var arguments = RedisArguments()
        arguments.append(sessionChannels ? "" : channel)
        arguments.append(sessionChannel(sessionId))
        arguments.append(sessionPublish)
        arguments.append(sessionId)
        return arguments
    }

    public func presenceJoin(sessionId: String, entry: PresenceEntry, _ done: @escaping (Result<Void, StoreError>) -> Void) {
        var arguments = presencePublishing(sessionId)
        arguments.append(entry.clientId)
        arguments.append(entry.json)
        arguments.append(settings.presenceLeaseMillis)
        arguments.append(settings.presenceKeyTTLMillis)
        run(.presenceJoin, keys: presenceKeys(sessionId), arguments: arguments) { done($0.map { _ in () }) }
    }

    public func presenceLeave(sessionId: String, clientId: String, _ done: @escaping (Result<Void, StoreError>) -> Void) {
        var arguments = presencePublishing(sessionId)
        arguments.append(clientId)
        run(.presenceLeave, keys: presenceKeys(sessionId), arguments: arguments) { done($0.map { _ in () }) }
    }

    public func presenceRenew(sessionId: String, clientIds: [String], _ done: @escaping (Result<[String], StoreError>) -> Void) {
        var arguments = presencePublishing(sessionId)
        arguments.append(settings.presenceLeaseMillis)
        arguments.append(settings.presenceKeyTTLMillis)
        arguments.append(Self.presenceSweepLimit)
        for id in clientIds { arguments.append(id) }
        run(.presenceRenew, keys: presenceKeys(sessionId), arguments: arguments) { result in
            done(result.map { reply in (reply.array ?? []).compactMap(\.text) })
        }
    }

    public func presence(sessionId: String, limit: Int, _ done: @escaping (Result<PresenceList, StoreError>) -> Void) {
        var arguments = RedisArguments()
        arguments.append(max(limit, 0))
        run(.presenceRead, keys: presenceKeys(sessionId), arguments: arguments) { result in
            done(result.map { reply in
                let parts = reply.array ?? []
                let count = parts.first?.integer ?? 0
                let entries = (parts.count > 1 ? parts[1].array ?? [] : []).compactMap { $0.bytes.flatMap(PresenceEntry.init(json:)) }
                return PresenceList(count: Int(count), entries: entries)
            })
        }
    }
}
