public import SBRedis

/// The Lua scripts behind every multi-step operation, so each runs as one atomic server-side
/// step. They are loaded (SCRIPT LOAD) on every connect and run with EVALSHA.
///
/// Keys a script knows up front come in KEYS. Listing sessions and deleting or reading chains
/// must reach keys they only learn while running (the ids in the index, the chain ids of a
/// session); those get a name prefix from `RedisKeys` in ARGV, so no key name is spelled in Lua.
/// On Redis Cluster (`RedisKeys.Layout.cluster`) every key a script touches is in its session's
/// slot (hash tag), and the steps that span sessions (the index) run as separate commands.
///
/// `switchboard redis-script <name>` prints a script (`Scripts/bench.py redis` times `appendEvents`).
public enum RedisScript: String, CaseIterable, Sendable {
    case appendEvents, readStream, readEvents, drain, enqueue, acknowledge
    case createSession, updateSession, listSessions, sessionSummary, deleteSession, addChain, chains
    case announceInstance
    case presenceJoin, presenceLeave, presenceRenew, presenceRead

    public var lua: LuaScript { LuaScript(name: rawValue, source: source) }

    /// What the script declares to Redis (7.0+) in its `#!lua` first line. Redis decides from
    /// it, before the script runs, whether it may run at all when `used_memory` is over
    /// `maxmemory`: a script without flags is checked only until its first deny-OOM command
    /// (the append script's first write was GETEX, not one), and every write after that passes,
    /// so a full Redis kept growing. Declared, a writing script is refused at its start with an
    /// `OOM …` error reply and writes nothing.
    public enum Flags: Sendable {
        /// May write: refused whole when Redis is over maxmemory (`#!lua`).
        case writes
        /// Reads only (`#!lua flags=no-writes`, which implies allow-oom): always runs.
        case noWrites
        /// Writes that free memory or keep a bounded size (deletes, the heartbeat, a new
        /// stream's two small keys), so reads, deletes and readiness keep working at the limit
        /// (`#!lua flags=allow-oom`).
        case allowOOM

        var shebang: String {
            switch self {
            case .writes: "#!lua"
            case .noWrites: "#!lua flags=no-writes"
            case .allowOOM: "#!lua flags=allow-oom"
            }
        }
    }

    public var flags: Flags {
        switch self {
        case .appendEvents, .enqueue, .acknowledge, .createSession, .updateSession, .addChain: .writes
        case .readEvents, .chains, .sessionSummary, .presenceRead: .noWrites
        // Presence entries are small and bounded by connections; at the limit joins and
        // renewals keep working, so presence never turns into ghosts because Redis is full.
        case .readStream, .drain, .listSessions, .deleteSession, .announceInstance, .presenceJoin, .presenceLeave, .presenceRenew: .allowOOM
        }
    }

    /// The text Redis loads: the flags line, then the body.
    public var source: String { flags.shebang + "\n" + body }

    public var body: String {
        switch self {
        case .appendEvents: Self.appendEventsSource
        case .readStream: Self.readStreamSource
        case .readEvents: Self.readEventsSource
        case .drain: Self.drainSource
        case .enqueue: Self.enqueueSource
        case .acknowledge: Self.acknowledgeSource
        case .createSession: Self.createSessionSource
        case .updateSession: Self.updateSessionSource
        case .listSessions: Self.listSessionsSource
        case .sessionSummary: Self.sessionSummarySource
        case .deleteSession: Self.deleteSessionSource
        case .addChain: Self.addChainSource
        case .chains: Self.chainsSource
        case .announceInstance: Self.announceInstanceSource
        case .presenceJoin: Self.presenceJoinSource
        case .presenceLeave: Self.presenceLeaveSource
        case .presenceRenew: Self.presenceRenewSource
        case .presenceRead: Self.presenceReadSource
        }
    }

    /// KEYS: per session of the call, seq, events, times and epoch; then the idempotency key of
    /// each keyed event, in the order of the events.
    /// ARGV: limit, ttl, channel ('' = none: Redis Cluster without the classic channel), now
    /// (ISO-8601), epoch candidate, idempotency ttl, publish ('1': publish here; '0': return the
    /// channel messages for the caller to publish once replicas confirmed, REDIS_MIN_REPLICAS),
    /// then the session channel's prefix and suffix and the command that publishes to it ('', '',
    /// '' unless REDIS_CHANNEL_MODE=session: 'PUBLISH' to prefix..sid; on Cluster 'SPUBLISH' to
    /// the shard channel prefix..sid..suffix), batch ('1': one channel message per session of
    /// the call; '0': one per event, REDIS_CHANNEL_BATCH=off), the number of sessions, keyed
    /// ('1': every event passes an eventId, '' when it is not keyed; '0': no event of the call is
    /// keyed and none passes one); then per session: sid, its number of events, refresh ('1':
    /// give the session's keys their full lifetimes, `LifetimeRefreshSchedule`), and per event:
    /// body (without its opening brace: `StoredEventJSON.scriptArgument`), timestamp in ms, and
    /// (keyed '1') the eventId when the event is keyed ('' when not; eventIds are never empty),
    /// which takes the next idempotency key from KEYS.
    /// Per event, in order: a repeated idempotency key answers the first append's seq and
    /// eventId and changes nothing (when the caller publishes and the first append was in an
    /// earlier call, its channel message is returned again if the event is still kept, so a
    /// retry after an unconfirmed first attempt gets it published; subscribers drop what they
    /// already have). Otherwise it takes its session's next seq: a stream whose seq key is gone
    /// (never written, expired, FLUSHALL, a restart without persistence) or that has no epoch
    /// yet starts under the candidate epoch. Per session, after its events: the seq SET (with
    /// its lifetime when refreshing or new, else KEEPTTL), a new epoch SET or, when refreshing,
    /// the epoch's EXPIRE (the epoch outlives the seq by a minute, so a seq that expires first
    /// always starts a new epoch: both are set together), the stored events (StoredEventJSON)
    /// and their timestamps (the parallel `times` list, for `since` queries) RPUSHed at once,
    /// trimmed to the limit and, when refreshing or new, given their lifetime; then the channel
    /// message (RedisChannelMessage): one `event` message for a single event, one `events`
    /// message carrying several, or with batch '0' one `event` message per event. Returns
    /// {rows, messages}: rows holds two entries per event, its seq and 0 when stored or the
    /// first append's eventId when a repeat (flat: a table per event cost about 1 µs each,
    /// mostly in turning the reply into RESP), and messages (when the caller publishes) {sid,
    /// message, sid, message, …}. The script is atomic, so nobody sees a message before its
    /// event is in the list.
    /// Cost (Redis CPU per event decides how many events one Redis carries): every `redis.call`
    /// and every argument costs more in the script engine than the command itself, a Lua number
    /// argument is formatted with sprintf on each call, and every Lua string made is hashed
    /// byte by byte (Redis's Lua). So numbers cross as the strings they came in as, one MGET
    /// reads seq and epoch, LTRIM runs only when RPUSH reports the list over the limit, a
    /// session's keys and id cross once per call, an unkeyed call passes no eventIds, the rows
    /// come back flat, and lifetimes are refreshed only when due: 7 calls per session of the
    /// call in steady state (MGET, SET, RPUSH and LTRIM of both lists, PUBLISH; LTRIM only when
    /// full), 3 more when refreshing, plus a GET and a SET per keyed event.
    /// Session ids are validated by the hub as `[A-Za-z0-9._:-]`, so they need no JSON escaping.
    static let appendEventsSource = """
        local limit = tonumber(ARGV[1])
        local ttl = ARGV[2]
        local epochTtl = tostring(tonumber(ttl) + 60)
        local trimFrom = '-' .. ARGV[1]
        local publishHere = ARGV[7] == '1'
        local batched = ARGV[11] == '1'
        local sessions = tonumber(ARGV[12])
        local keyed = ARGV[13] == '1'
        local function seqOf(item) return item and tonumber(string.match(item, '^{"seq":(%d+),')) end
        -- RPUSH in pieces: Lua's unpack has a limit far below a batch's size.
        local function pushAll(key, values)
          local length = 0
          for from = 1, #values, 1000 do
            length = redis.call('RPUSH', key, unpack(values, from, math.min(from + 999, #values)))
          end
          return length
        end
        -- Trimmed to the limit; the list's lifetime set when asked to or when the list is new.
        local function appendToList(key, values, refresh)
          local length = pushAll(key, values)
          if length > limit then redis.call('LTRIM', key, trimFrom, '-1') end
          if refresh or length == #values then redis.call('EXPIRE', key, ttl) end
        end
        local rows, messages = {}, {}
        local function publish(sid, message)
          if publishHere then
            if ARGV[3] ~= '' then redis.call('PUBLISH', ARGV[3], message) end
            if ARGV[10] ~= '' then redis.call(ARGV[10], ARGV[8] .. sid .. ARGV[9], message) end
          else
            messages[#messages + 1] = sid
            messages[#messages + 1] = message
          end
        end
        local a = 13
        local idem = 4 * sessions
        for s = 1, sessions do
          local k = 4 * (s - 1)
          local sid, count, refresh = ARGV[a + 1], tonumber(ARGV[a + 2]), ARGV[a + 3] == '1'
          a = a + 3
          -- The session's seq and epoch, read at its first stored event; what it appends.
          local seq, seqText, epoch, newStream, newEpoch, firstSeq
          local stored, times = {}, {}
          for _ = 1, count do
            local bodyTail, millis, eventId = ARGV[a + 1], ARGV[a + 2], ''
            if keyed then
              eventId = ARGV[a + 3]
              a = a + 3
            else
              a = a + 2
            end
            local key
            if eventId ~= '' then
              idem = idem + 1
              key = KEYS[idem]
            end
            local first = key and redis.call('GET', key)
            if first then
              local colon = string.find(first, ':', 1, true)
              local firstSeqText = string.sub(first, 1, colon - 1)
              local original = tonumber(firstSeqText)
              rows[#rows + 1] = original
              rows[#rows + 1] = string.sub(first, colon + 1)
              if not publishHere and not (firstSeq and original >= firstSeq) then
                local head = redis.call('LINDEX', KEYS[k + 2], 0)
                local oldest = seqOf(head)
                local item = oldest and redis.call('LINDEX', KEYS[k + 2], original - oldest)
                local itemEpoch = epoch or redis.call('GET', KEYS[k + 4])
                if item and itemEpoch and seqOf(item) == original then
                  publish(sid, \(RedisChannelMessage.luaEvent(sessionId: "sid", storedJSON: "item", timestamp: "ARGV[4]", seq: "firstSeqText", epoch: "itemEpoch")))
                end
              end
            else
              if not seq then
                seq = 0
                local current = redis.call('MGET', KEYS[k + 1], KEYS[k + 4])
                if current[1] then
                  seq = tonumber(current[1])
                  epoch = current[2]
                else
                  newStream = true
                end
                if not epoch then
                  epoch = ARGV[5]
                  newEpoch = true
                end
                firstSeq = seq + 1
              end
              seq = seq + 1
              seqText = tostring(seq)
              stored[#stored + 1] = \(StoredEventJSON.luaExpression(seq: "seqText", bodyTail: "bodyTail"))
              times[#times + 1] = millis
              if key then redis.call('SET', key, seqText .. ':' .. eventId, 'EX', ARGV[6]) end
              rows[#rows + 1] = seq
              rows[#rows + 1] = 0
            end
          end
          if seq then
            if refresh or newStream then
              redis.call('SET', KEYS[k + 1], seqText, 'EX', ttl)
            else
              redis.call('SET', KEYS[k + 1], seqText, 'KEEPTTL')
            end
            if newEpoch then
              redis.call('SET', KEYS[k + 4], epoch, 'EX', epochTtl)
            elseif refresh then
              redis.call('EXPIRE', KEYS[k + 4], epochTtl)
            end
            appendToList(KEYS[k + 2], stored, refresh)
            appendToList(KEYS[k + 3], times, refresh)
            if batched and #stored > 1 then
              publish(sid, \(RedisChannelMessage.luaEvents(sessionId: "sid", stored: "stored", timestamp: "ARGV[4]", epoch: "epoch")))
            else
              for j = 1, #stored do
                -- The last event's seq is formatted already (sprintf per number turned to text).
                local event, eventSeqText = stored[j], j == #stored and seqText or tostring(firstSeq + j - 1)
                publish(sid, \(RedisChannelMessage.luaEvent(sessionId: "sid", storedJSON: "event", timestamp: "ARGV[4]", seq: "eventSeqText", epoch: "epoch")))
              end
            end
          end
        end
        return {rows, messages}
        """

    /// KEYS: seq, events, epoch   ARGV: after, max count, max bytes, epoch candidate, ttl.
    /// Returns {epoch, lastSeq, oldestSeq, events…}: the events after `after`, oldest first,
    /// bounded by count and bytes (at least one when any qualifies). A stream whose seq key is
    /// gone starts here under the candidate epoch (seq 0), so a subscriber learns the epoch its
    /// first event will carry; one without an epoch (written before epochs existed) gets one.
    static let readStreamSource = """
        local seq = redis.call('GET', KEYS[1])
        local epoch = redis.call('GET', KEYS[3])
        local ttl = tonumber(ARGV[5])
        if not seq then
          redis.call('SET', KEYS[1], 0, 'EX', ttl)
          epoch = ARGV[4]
          redis.call('SET', KEYS[3], epoch, 'EX', ttl + 60)
          return {epoch, 0, 1}
        end
        if not epoch then
          epoch = ARGV[4]
          redis.call('SET', KEYS[3], epoch, 'EX', ttl + 60)
        end
        local last = tonumber(seq)
        local n = redis.call('LLEN', KEYS[2])
        local function seqOf(item) return item and tonumber(string.match(item, '^{"seq":(%d+),')) end
        local oldest = last + 1
        if n > 0 then oldest = seqOf(redis.call('LINDEX', KEYS[2], 0)) or 1 end
        local out = {epoch, last, oldest}
        local after, count, budget = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
        local from = math.max(0, after - oldest + 1)
        local bytes = 0
        while #out - 3 < count and from < n do
          local items = redis.call('LRANGE', KEYS[2], from, from + count - 1)
          if #items == 0 then break end
          for _, item in ipairs(items) do
            local s = seqOf(item)
            if s and s > after then
              if #out > 3 and bytes + #item > budget then return out end
              out[#out + 1] = item
              bytes = bytes + #item
              if #out - 3 >= count then return out end
            end
          end
          from = from + #items
        end
        return out
        """

    /// KEYS: events, times   ARGV: after (-1 = none), count, newest ('1' or '0'), since ms (-1 = none).
    /// Only the returned events cross the wire. Without `since`, the slice is found by index
    /// arithmetic over our dense seqs. With `since`, the parallel `times` list is scanned inside
    /// Redis (from the newest end for `/recent`). Lists that are not dense or whose `times` do not
    /// line up (entries written by the old backend) are returned whole; the caller filters again
    /// either way.
    static let readEventsSource = """
        local key = KEYS[1]
        local n = redis.call('LLEN', key)
        if n == 0 then return {} end
        local function seqOf(item) return tonumber(string.match(item, '^{"seq":(%d+),')) end
        local first = seqOf(redis.call('LINDEX', key, 0))
        local last = seqOf(redis.call('LINDEX', key, -1))
        if not first or not last or last - first ~= n - 1 then return redis.call('LRANGE', key, 0, -1) end
        local after = tonumber(ARGV[1])
        local count = tonumber(ARGV[2])
        local newest = ARGV[3] == '1'
        local since = tonumber(ARGV[4])
        local from = 0
        if after >= first then from = after - first + 1 end
        if from > n - 1 then return {} end
        if since >= 0 then
          if redis.call('LLEN', KEYS[2]) ~= n then return redis.call('LRANGE', key, from, -1) end
          local times = redis.call('LRANGE', KEYS[2], from, -1)
          local picked = {}
          if newest then
            local i = #times
            while i >= 1 and #picked < count do
              if tonumber(times[i]) >= since then picked[#picked + 1] = from + i - 1 end
              i = i - 1
            end
            local out = {}
            for j = #picked, 1, -1 do out[#out + 1] = redis.call('LINDEX', key, picked[j]) end
            return out
          end
          local out = {}
          for i = 1, #times do
            if #out >= count then break end
            if tonumber(times[i]) >= since then out[#out + 1] = redis.call('LINDEX', key, from + i - 1) end
          end
          return out
        end
        local to = n - 1
        if newest then from = math.max(from, n - count) else to = math.min(to, from + count - 1) end
        if from > to then return {} end
        return redis.call('LRANGE', key, from, to)
        """
}
