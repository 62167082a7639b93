/// The scripts of queues, sessions, chains and the instance registry (the event stream's are in
/// RedisScripts.swift). Same rules: every key name from `RedisKeys`, one slot per script.
extension RedisScript {
    /// KEYS: queue. Every item, and the queue deleted, in one step: two racing drains never
    /// both get, or both miss, an item.
    static let drainSource = """
        local items = redis.call('LRANGE', KEYS[1], 0, -1)
        redis.call('DEL', KEYS[1])
        return items
        """

    /// KEYS: queue [, command record]   ARGV: item, ttl, channel ('' = none), channel message, max
    /// length, the session's own channel ('' unless REDIS_CHANNEL_MODE=session or Cluster) and
    /// the command that publishes to it (PUBLISH, or SPUBLISH on Cluster). On Cluster the
    /// command record (another slot) is written by the caller, not here.
    /// 0 (nothing queued or published) when the queue is full.
    static let enqueueSource = """
        if redis.call('LLEN', KEYS[1]) >= tonumber(ARGV[5]) then return 0 end
        redis.call('RPUSH', KEYS[1], ARGV[1])
        redis.call('EXPIRE', KEYS[1], ARGV[2])
        if KEYS[2] then redis.call('SET', KEYS[2], ARGV[1], 'EX', ARGV[2]) end
        if ARGV[3] ~= '' then redis.call('PUBLISH', ARGV[3], ARGV[4]) end
        if ARGV[6] ~= '' then redis.call(ARGV[7], ARGV[6], ARGV[4]) end
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

    /// KEYS: session [, index]   ARGV: json, ttl, score (start ms), id, session key prefix.
    /// Also drops up to five of the oldest index entries whose session expired, so the index
    /// stays bounded even if nobody ever lists sessions. On Cluster the index is in another
    /// slot: the caller adds to it with its own ZADD, and listing prunes it.
    static let createSessionSource = """
        redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
        if KEYS[2] then
          redis.call('ZADD', KEYS[2], ARGV[3], ARGV[4])
          for _, old in ipairs(redis.call('ZRANGE', KEYS[2], 0, 4)) do
            if redis.call('EXISTS', ARGV[5] .. old) == 0 then redis.call('ZREM', KEYS[2], old) end
          end
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

    /// KEYS: registry (ZSET id → expiry ms), this instance's key   ARGV: instance key prefix, id, json, ttl
    /// (s), now (ms), max listed. Writes the heartbeat with its TTL, prunes expired ids, and
    /// returns the live instances' heartbeats. The ZSET holds only ids refreshed within the TTL
    /// and expires with the last of them: bounded by the number of running instances.
    static let announceInstanceSource = """
        local ttl = tonumber(ARGV[4])
        local now = tonumber(ARGV[5])
        redis.call('SET', KEYS[2], ARGV[3], 'EX', ttl)
        redis.call('ZADD', KEYS[1], now + ttl * 1000, ARGV[2])
        redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
        redis.call('EXPIRE', KEYS[1], ttl)
        local out = {}
        for _, id in ipairs(redis.call('ZRANGE', KEYS[1], 0, tonumber(ARGV[6]) - 1)) do
          local v = redis.call('GET', ARGV[1] .. id)
          if v then out[#out + 1] = v end
        end
        return out
        """

    /// KEYS: index   ARGV: the session, chains and seq key prefixes. Returns [json, chainsCount,
    /// lastSeq, …] by start time; index entries whose session expired are pruned on the way.
    /// Standalone only: on Cluster the sessions are in many slots (`sessionSummary` per id).
    static let listSessionsSource = """
        local out = {}
        for _, id in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
          local s = redis.call('GET', ARGV[1] .. id)
          if s then
            out[#out + 1] = s
            out[#out + 1] = redis.call('LLEN', ARGV[2] .. id)
            out[#out + 1] = tonumber(redis.call('GET', ARGV[3] .. id) or '0')
          else
            redis.call('ZREM', KEYS[1], id)
          end
        end
        return out
        """

    /// KEYS: session, events, times, chains, commands, input, seq, epoch [, index]   ARGV: id, new
    /// epoch, ttl, channel ('' = none), the session's own channel ('' unless
    /// REDIS_CHANNEL_MODE=session or Cluster) and the command that publishes to it, the chain
    /// key prefix. Removes the session and everything under it, starts its stream again (seq 0)
    /// under the new epoch and publishes the reset (RedisChannelMessage); 1 if anything of the
    /// session existed. On Cluster the index (another slot) is left to the caller.
    static let deleteSessionSource = """
        local id = ARGV[1]
        local epoch = ARGV[2]
        -- Anything of the session counts; with none of it the answer is 0 (404) and nothing
        -- changes: no new epoch, no reset published.
        local existed = redis.call('EXISTS', KEYS[1], KEYS[2], KEYS[4], KEYS[5], KEYS[6])
        if existed == 0 then return 0 end
        for _, cid in ipairs(redis.call('LRANGE', KEYS[4], 0, -1)) do
          redis.call('DEL', ARGV[7] .. cid)
        end
        redis.call('DEL', KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6])
        redis.call('SET', KEYS[7], 0, 'EX', ARGV[3])
        redis.call('SET', KEYS[8], epoch, 'EX', tonumber(ARGV[3]) + 60)
        if KEYS[9] then redis.call('ZREM', KEYS[9], id) end
        local reset = \(RedisChannelMessage.luaReset(sessionId: "id", epoch: "epoch"))
        if ARGV[4] ~= '' then redis.call('PUBLISH', ARGV[4], reset) end
        if ARGV[5] ~= '' then redis.call(ARGV[6], ARGV[5], reset) end
        return 1
        """

    /// KEYS: session, chains, seq (one session's, on Cluster).  Returns {json, chainsCount,
    /// lastSeq}, or false when the session record is gone (the caller prunes the index).
    static let sessionSummarySource = """
        local s = redis.call('GET', KEYS[1])
        if not s then return false end
        return {s, redis.call('LLEN', KEYS[2]), tonumber(redis.call('GET', KEYS[3]) or '0')}
        """

    /// KEYS: chain, chains list   ARGV: json, ttl, chainId.
    static let addChainSource = """
        redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
        redis.call('RPUSH', KEYS[2], ARGV[3])
        redis.call('EXPIRE', KEYS[2], ARGV[2])
        return 1
        """

    /// KEYS: chains list   ARGV: chain key prefix. The chain JSONs still alive, in insertion order.
    static let chainsSource = """
        local out = {}
        for _, cid in ipairs(redis.call('LRANGE', KEYS[1], 0, -1)) do
          local c = redis.call('GET', ARGV[1] .. cid)
          if c then out[#out + 1] = c end
        end
        return out
        """
}
