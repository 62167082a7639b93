/// The presence scripts (issue 26; REDIS_INTEGRATION.md, Presence). KEYS are always the
/// session's presence ZSET (client id → lease expiry in ms) and HASH (client id → entry JSON),
/// in the session's slot. Lease times come from Redis's own clock (`TIME`), so instances whose
/// clocks disagree still agree on who expired. Every change is published in the same step as
/// it is made, by the one script that made it: a join once, a leave once.
///
/// The publishing ARGV of each script, in this order: the classic channel ('' = none), the
/// session's own channel ('' = none) and the command for it (PUBLISH, or SPUBLISH on Cluster),
/// the session id.
extension RedisScript {
    static let presenceNow = """
        local time = redis.call('TIME')
        local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
        """

    static let presencePublish = """
        local function publish(message)
          if ARGV[1] ~= '' then redis.call('PUBLISH', ARGV[1], message) end
          if ARGV[2] ~= '' then redis.call(ARGV[3], ARGV[2], message) end
        end
        """

    /// ARGV: the four publishing arguments, client id, entry JSON, lease ms, key TTL ms.
    /// 1 when it joined (published), 0 when it was there already (entry and lease updated).
    static let presenceJoinSource = presenceNow + "\n" + presencePublish + "\n" + """
        local added = redis.call('ZADD', KEYS[1], now + tonumber(ARGV[7]), ARGV[5])
        redis.call('HSET', KEYS[2], ARGV[5], ARGV[6])
        redis.call('PEXPIRE', KEYS[1], ARGV[8])
        redis.call('PEXPIRE', KEYS[2], ARGV[8])
        if added == 1 then publish(\(RedisChannelMessage.luaPresence(sessionId: "ARGV[4]", joins: "ARGV[6]", leaves: "''"))) end
        return added
        """

    /// ARGV: the four publishing arguments, client id. 1 when this call removed it (and
    /// published its leave); 0 when it was gone already (a sweep removed it and published).
    static let presenceLeaveSource = presencePublish + "\n" + """
        local entry = redis.call('HGET', KEYS[2], ARGV[5])
        local removed = redis.call('ZREM', KEYS[1], ARGV[5])
        redis.call('HDEL', KEYS[2], ARGV[5])
        if removed == 1 and entry then publish(\(RedisChannelMessage.luaPresence(sessionId: "ARGV[4]", joins: "''", leaves: "entry"))) end
        return removed
        """

    /// ARGV: the four publishing arguments, lease ms, key TTL ms, max swept, then this instance's
    /// client ids. Renews the lease of each id still present and returns the ids that are not
    /// (the caller joins them again); then removes up to `max swept` expired entries, whoever's,
    /// and publishes their leaves in one message. The keys go when nothing is left in them.
    static let presenceRenewSource = presenceNow + "\n" + presencePublish + "\n" + """
        local expiry = now + tonumber(ARGV[5])
        local missing = {}
        for i = 8, #ARGV do
          if redis.call('ZSCORE', KEYS[1], ARGV[i]) then
            redis.call('ZADD', KEYS[1], expiry, ARGV[i])
          else
            missing[#missing + 1] = ARGV[i]
          end
        end
        local expired = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[7]))
        if #expired > 0 then
          local entries = redis.call('HMGET', KEYS[2], unpack(expired))
          redis.call('ZREM', KEYS[1], unpack(expired))
          redis.call('HDEL', KEYS[2], unpack(expired))
          local leaves = {}
          for _, entry in ipairs(entries) do
            if entry then leaves[#leaves + 1] = entry end
          end
          if #leaves > 0 then
            local joined = table.concat(leaves, ',')
            publish(\(RedisChannelMessage.luaPresence(sessionId: "ARGV[4]", joins: "''", leaves: "joined")))
          end
        end
        if redis.call('ZCARD', KEYS[1]) == 0 then
          redis.call('DEL', KEYS[1], KEYS[2])
        else
          redis.call('PEXPIRE', KEYS[1], ARGV[6])
          redis.call('PEXPIRE', KEYS[2], ARGV[6])
        end
        return missing
        """

    /// ARGV: limit. Returns {count of unexpired entries, entries of up to `limit` of them}.
    static let presenceReadSource = presenceNow + "\n" + """
        local live = '(' .. now
        local count = redis.call('ZCOUNT', KEYS[1], live, '+inf')
        local ids = redis.call('ZRANGEBYSCORE', KEYS[1], live, '+inf', 'LIMIT', 0, tonumber(ARGV[1]))
        if #ids == 0 then return {count, {}} end
        return {count, redis.call('HMGET', KEYS[2], unpack(ids))}
        """
}
