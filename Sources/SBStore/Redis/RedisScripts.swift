public import SBRedis

/// The Lua scripts behind every multi-step operation, so each runs as one atomic server-side
/// step. They are loaded (SCRIPT LOAD) on every connect and run with EVALSHA.
///
/// Keys a script knows up front come in KEYS. Listing and deleting sessions must reach keys
/// they only learn while running (the ids in the index, the chain ids of a session); those build
/// names from the prefix in ARGV, which is fine on a standalone Redis (or Sentinel) but not on
/// Redis Cluster (see REDIS_INTEGRATION.md).
///
/// `switchboard redis-script <name>` prints a script (Scripts/bench.sh times `appendEvents`).
public enum RedisScript: String, CaseIterable, Sendable {
    case appendEvents, readEvents, drain, enqueue, acknowledge
    case createSession, updateSession, listSessions, deleteSession, addChain, chains

    public var lua: LuaScript { LuaScript(name: rawValue, source: source) }

    public var source: String {
        switch self {
        case .appendEvents: Self.appendEventsSource
        case .readEvents: Self.readEventsSource
        case .drain: Self.drainSource
        case .enqueue: Self.enqueueSource
        case .acknowledge: Self.acknowledgeSource
        case .createSession: Self.createSessionSource
        case .updateSession: Self.updateSessionSource
        case .listSessions: Self.listSessionsSource
        case .deleteSession: Self.deleteSessionSource
        case .addChain: Self.addChainSource
        case .chains: Self.chainsSource
        }
    }

    /// KEYS: seq1, events1, seq2, events2, …   ARGV: limit, ttl, channel, now, sid1, body1, sid2, body2, …
    /// Per event, in order: INCR seq, build `{"seq":N,` + body minus its `{`, RPUSH, LTRIM to the
    /// limit, EXPIRE both keys, PUBLISH `{"sessionId","event","timestamp","seq"}`. Returns the seqs.
    /// Session ids are validated by the hub as `[A-Za-z0-9._:-]`, so they need no JSON escaping.
    static let appendEventsSource = """
        local limit = tonumber(ARGV[1])
        local ttl = tonumber(ARGV[2])
        local out = {}
        for i = 1, #KEYS / 2 do
          local sid = ARGV[3 + 2 * i]
          local body = ARGV[4 + 2 * i]
          local seq = redis.call('INCR', KEYS[2 * i - 1])
          local stored = '{"seq":' .. seq .. ',' .. string.sub(body, 2)
          redis.call('RPUSH', KEYS[2 * i], stored)
          redis.call('LTRIM', KEYS[2 * i], -limit, -1)
          redis.call('EXPIRE', KEYS[2 * i], ttl)
          redis.call('EXPIRE', KEYS[2 * i - 1], ttl)
          redis.call('PUBLISH', ARGV[3], '{"sessionId":"' .. sid .. '","event":' .. stored .. ',"timestamp":"' .. ARGV[4] .. '","seq":' .. seq .. '}')
          out[i] = seq
        end
        return out
        """

    /// KEYS: events   ARGV: after (-1 = none), count (-1 = to the end), newest ('1' or '0').
    /// Our entries carry dense seqs (`{"seq":N,`), so when the list is dense (last - first =
    /// length - 1) the wanted slice is found by index arithmetic and only it crosses the wire.
    /// Otherwise (entries written by the old backend, which have no seq) the whole list is
    /// returned. The caller filters again either way.
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
        local from = 0
        if after >= first then from = after - first + 1 end
        local to = n - 1
        if count >= 0 then
          if ARGV[3] == '1' then from = math.max(from, n - count) else to = math.min(to, from + count - 1) end
        end
        if from > to then return {} end
        return redis.call('LRANGE', key, from, to)
        """

    /// KEYS: queue. Every item, and the queue deleted, in one step: two racing drains never
    /// both get, or both miss, an item.
    static let drainSource = """
        local items = redis.call('LRANGE', KEYS[1], 0, -1)
        redis.call('DEL', KEYS[1])
        return items
        """

    /// KEYS: queue [, command record]   ARGV: item, ttl, channel, channel message.
    static let enqueueSource = """
        redis.call('RPUSH', KEYS[1], ARGV[1])
        redis.call('EXPIRE', KEYS[1], ARGV[2])
        if KEYS[2] then redis.call('SET', KEYS[2], ARGV[1], 'EX', ARGV[2]) end
        redis.call('PUBLISH', ARGV[3], ARGV[4])
        return 1
        """

    /// KEYS: command record   ARGV: ack JSON. 0 when the command is unknown or expired; else
    /// the record holds the ack for the rest of its lifetime (PTTL + PX rather than KEEPTTL, so
    /// Redis 5 works too).
    static let acknowledgeSource = """
        local ttl = redis.call('PTTL', KEYS[1])
        if ttl == -2 then return 0 end
        if ttl > 0 then redis.call('SET', KEYS[1], ARGV[1], 'PX', ttl) else redis.call('SET', KEYS[1], ARGV[1]) end
        return 1
        """

    /// KEYS: session, index   ARGV: json, ttl, score (start ms), id, session key prefix.
    /// Also drops up to five of the oldest index entries whose session expired, so the index
    /// stays bounded even if nobody ever lists sessions.
    static let createSessionSource = """
        redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
        redis.call('ZADD', KEYS[2], ARGV[3], ARGV[4])
        for _, old in ipairs(redis.call('ZRANGE', KEYS[2], 0, 4)) do
          if redis.call('EXISTS', ARGV[5] .. old) == 0 then redis.call('ZREM', KEYS[2], old) end
        end
        return 1
        """

    /// KEYS: session   ARGV: JSON object of the fields to set, ttl. Merges in one step, so two
    /// concurrent updates of different fields both survive, and a deleted session is never
    /// brought back. Returns the new JSON, or nil when the session does not exist.
    static let updateSessionSource = """
        local current = redis.call('GET', KEYS[1])
        if not current then return false end
        local session = cjson.decode(current)
        for k, v in pairs(cjson.decode(ARGV[1])) do session[k] = v end
        local out = cjson.encode(session)
        redis.call('SET', KEYS[1], out, 'EX', ARGV[2])
        return out
        """

    /// KEYS: index   ARGV: prefix. Returns [json, chainsCount, …] by start time; index entries
    /// whose session expired are pruned on the way.
    static let listSessionsSource = """
        local out = {}
        for _, id in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
          local s = redis.call('GET', ARGV[1] .. 'sessions:' .. id)
          if s then
            out[#out + 1] = s
            out[#out + 1] = redis.call('LLEN', ARGV[1] .. 'chains:' .. id)
          else
            redis.call('ZREM', KEYS[1], id)
          end
        end
        return out
        """

    /// KEYS: index   ARGV: prefix, id. Removes the session and everything under it; 1 if the
    /// session existed.
    static let deleteSessionSource = """
        local p = ARGV[1]
        local id = ARGV[2]
        local existed = redis.call('EXISTS', p .. 'sessions:' .. id)
        for _, cid in ipairs(redis.call('LRANGE', p .. 'chains:' .. id, 0, -1)) do
          redis.call('DEL', p .. 'chain:' .. cid)
        end
        redis.call('DEL', p .. 'sessions:' .. id, p .. 'events:' .. id, p .. 'seq:' .. id, p .. 'chains:' .. id,
                   p .. 'commands:' .. id, p .. 'input:' .. id)
        redis.call('ZREM', KEYS[1], id)
        return existed
        """

    /// KEYS: chain, chains list   ARGV: json, ttl, chainId.
    static let addChainSource = """
        redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
        redis.call('RPUSH', KEYS[2], ARGV[3])
        redis.call('EXPIRE', KEYS[2], ARGV[2])
        return 1
        """

    /// KEYS: chains list   ARGV: prefix. The chain JSONs still alive, in insertion order.
    static let chainsSource = """
        local out = {}
        for _, cid in ipairs(redis.call('LRANGE', KEYS[1], 0, -1)) do
          local c = redis.call('GET', ARGV[1] .. 'chain:' .. cid)
          if c then out[#out + 1] = c end
        end
        return out
        """
}
