/// The Lua scripts behind every multi-step write, so each runs as one atomic server-side step.
/// Key names come in KEYS (or are built from the prefix in ARGV where a script must reach keys
/// it only learns while running: session listing and deletion).
public enum RedisScript: String, CaseIterable, Sendable {
    case appendEvents, drain, enqueue, acknowledge, createSession, listSessions, deleteSession, addChain, chains

    public var source: String {
        switch self {
        // KEYS: seq1, events1, seq2, events2, …  ARGV: limit, ttl, channel, now, sid1, body1, sid2, body2, …
        // Each event: INCR seq, RPUSH the stored JSON, LTRIM, EXPIRE both keys, PUBLISH. Returns the seqs.
        case .appendEvents: """
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
        // KEYS: queue. Returns every item and deletes the queue in one step.
        case .drain: """
            local items = redis.call('LRANGE', KEYS[1], 0, -1)
            redis.call('DEL', KEYS[1])
            return items
            """
        // KEYS: queue, command record ('' for input)  ARGV: item, ttl, channel, channel message
        case .enqueue: """
            redis.call('RPUSH', KEYS[1], ARGV[1])
            redis.call('EXPIRE', KEYS[1], tonumber(ARGV[2]))
            if KEYS[2] ~= '' then redis.call('SET', KEYS[2], ARGV[1], 'EX', tonumber(ARGV[2])) end
            redis.call('PUBLISH', ARGV[3], ARGV[4])
            return 1
            """
        // KEYS: command record  ARGV: ack JSON. 0 when the command is unknown or expired.
        case .acknowledge: """
            if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
            redis.call('SET', KEYS[1], ARGV[1], 'KEEPTTL')
            return 1
            """
        // KEYS: session, index  ARGV: json, ttl, score, id
        case .createSession: """
            redis.call('SET', KEYS[1], ARGV[1], 'EX', tonumber(ARGV[2]))
            redis.call('ZADD', KEYS[2], tonumber(ARGV[3]), ARGV[4])
            return 1
            """
        // KEYS: index  ARGV: prefix. Returns [json, chainsCount, …]; prunes ids whose session expired.
        case .listSessions: """
            local ids = redis.call('ZRANGE', KEYS[1], 0, -1)
            local out = {}
            for _, id in ipairs(ids) do
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
        // KEYS: index  ARGV: prefix, id. Removes the session and everything under it; 1 if it existed.
        case .deleteSession: """
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
        // KEYS: chain, chains list  ARGV: json, ttl, chainId
        case .addChain: """
            redis.call('SET', KEYS[1], ARGV[1], 'EX', tonumber(ARGV[2]))
            redis.call('RPUSH', KEYS[2], ARGV[3])
            redis.call('EXPIRE', KEYS[2], tonumber(ARGV[2]))
            return 1
            """
        // KEYS: chains list  ARGV: prefix. Returns the chain JSONs still alive, in order.
        case .chains: """
            local out = {}
            for _, cid in ipairs(redis.call('LRANGE', KEYS[1], 0, -1)) do
              local c = redis.call('GET', ARGV[1] .. 'chain:' .. cid)
              if c then out[#out + 1] = c end
            end
            return out
            """
        }
    }
}
