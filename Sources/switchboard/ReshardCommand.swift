import ArgumentParser
import Foundation
import SBCore
import SBRedis
import SBStore
import SBTLS

/// `switchboard reshard --from <urls> --to <urls>`: after the shard list changes, moves every
/// session's keys from the shard they are on to the shard the new list hashes them to
/// (jump hash, `ShardRouter`), with DUMP / RESTORE (TTL kept) / DEL, and moves their entries in
/// the session index. Run it while no instance writes (stop them, or stop the publishers),
/// then start the instances with the new list. `Scripts/reshard.sh` wraps it. `rediss://` URLs
/// take REDIS_TLS_CA_FILE, REDIS_TLS_SERVER_NAME, REDIS_TLS_CERT_FILE and REDIS_TLS_KEY_FILE
/// from the environment, as `serve` does.
struct ReshardCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reshard",
        abstract: "Move sessions between Redis shards after REDIS_URL's shard list changed.")

    @Option(help: "The old shard list: comma-separated redis:// URLs, in REDIS_URL order.") var from: String
    @Option(help: "The new shard list, in the order the instances will use.") var to: String
    @Option(help: "REDIS_PREFIX (default afw:).") var prefix: String = "afw:"
    @Flag(help: "Only count what would move.") var dryRun = false

    func run() throws {
        let tls = try Self.tlsSettings(from + "," + to)
        let oldURLs = try Self.urls(from, "--from", tls: tls)
        let newURLs = try Self.urls(to, "--to", tls: tls)
        let router = ShardRouter(count: newURLs.count)
        var servers: [String: any RedisBlockingCalls] = [:]
        func server(_ url: RedisURL) throws -> any RedisBlockingCalls {
            let id = Self.identity(url)
            if let existing = servers[id] { return existing }
            let connection = try Self.connect(url)
            servers[id] = connection
            return connection
        }
        var movedSessions = Set<String>()
        var movedKeys = 0
        var indexEntries = 0
        for source in oldURLs {
            let here = try server(source)
            let sourceID = Self.identity(source)
            func target(of sessionId: String) -> RedisURL? {
                let url = newURLs[router.shard(of: sessionId)]
                return Self.identity(url) == sourceID ? nil : url
            }
            try Self.forEachKey(on: here, prefix: prefix, source: source) { key in
                if key == prefix + "sessions:index" { return }
                guard let sessionId = try Self.sessionId(ofKey: key, prefix: prefix, on: here),
                      let destination = target(of: sessionId) else { return }
                movedSessions.insert(sessionId)
                movedKeys += 1
                if dryRun { return }
                let dump = try Self.check(here.call(["DUMP", key]), "DUMP")
                guard let serialized = dump.bytes else { return }  // expired meanwhile
                let ttl = try Self.check(here.call(["PTTL", key]), "PTTL").integer ?? -1
                if ttl == -2 { return }
                var restore: RedisArguments = ["RESTORE", key, String(max(ttl, 0))]
                restore.append(serialized)
                restore.append("REPLACE")
                try Self.check(server(destination).call(restore), "RESTORE")
                try Self.check(here.call(["DEL", key]), "DEL")
            }
            // The session index: each entry goes with its session.
            let index = try Self.check(here.call(["ZRANGE", prefix + "sessions:index", "0", "-1", "WITHSCORES"]), "ZRANGE").array ?? []
            for pair in stride(from: 0, to: index.count - 1, by: 2) {
                guard let member = index[pair].bytes, let score = index[pair + 1].bytes else { continue }
                let sessionId = String(decoding: member, as: UTF8.self)
                guard let destination = target(of: sessionId) else { continue }
                movedSessions.insert(sessionId)
                indexEntries += 1
                if dryRun { continue }
                try Self.check(server(destination).call(["ZADD", prefix + "sessions:index", String(decoding: score, as: UTF8.self), sessionId]), "ZADD")
                try Self.check(here.call(["ZREM", prefix + "sessions:index", sessionId]), "ZREM")
            }
        }
        print("\(dryRun ? "would move" : "moved") \(movedSessions.count) sessions: \(movedKeys) keys, \(indexEntries) index entries (\(oldURLs.count) → \(newURLs.count) shards)")
    }

    /// Every key under `prefix` on `server` (SCAN, pages of 1000).
    static func forEachKey(on server: any RedisBlockingCalls, prefix: String, source: RedisURL,
                           _ body: (String) throws -> Void) throws {
        var cursor = "0"
        repeat {
            let reply = try check(server.call(["SCAN", cursor, "MATCH", globEscaped(prefix) + "*", "COUNT", "1000"]), "SCAN")
            guard let parts = reply.array, parts.count == 2, let next = parts[0].bytes, let keys = parts[1].array else {
                throw ValidationError("unexpected SCAN reply from \(source)")
            }
            cursor = String(decoding: next, as: UTF8.self)
            for key in keys.compactMap(\.bytes) { try body(String(decoding: key, as: UTF8.self)) }
        } while cursor != "0"
    }

    /// A blocking connection for the tools (reshard, migrate): TLS for `rediss://`, then AUTH
    /// and SELECT as the URL says.
    static func connect(_ url: RedisURL) throws -> any RedisBlockingCalls {
        let connection: any RedisBlockingCalls = url.usesTLS
            ? try RedisPolledConnection.connect(url: url, timeoutMilliseconds: 5000)
            : try RedisBlockingConnection(host: url.host, port: url.port, timeoutMilliseconds: 5000)
        if let password = url.password {
            var auth: RedisArguments = ["AUTH"]
            if let user = url.user { auth.append(user) }
            auth.append(password)
            try check(connection.call(auth), "AUTH")
        }
        if url.db != 0 { try check(connection.call(["SELECT", String(url.db)]), "SELECT") }
        return connection
    }

    /// The session a key belongs to, or nil for keys that stay (unknown kinds, acked command
    /// records, which any shard's ack lookup finds anyway).
    static func sessionId(ofKey key: String, prefix: String, on server: any RedisBlockingCalls) throws -> String? {
        let rest = key.dropFirst(prefix.count)
        guard let colon = rest.firstIndex(of: ":") else { return nil }
        let kind = rest[..<colon]
        let tail = String(rest[rest.index(after: colon)...])
        switch kind {
        case "sessions", "events", "seq", "times", "epoch", "chains", "commands", "input":
            return tail
        case "idem":
            // idem:{sid}:k:{key} | idem:{sid}:e:{eventId}; session ids never contain ":k:" or ":e:"
            // in practice (if one did, its idempotency keys, short-lived, would stay behind).
            let cut = [tail.range(of: ":k:"), tail.range(of: ":e:")].compactMap { $0 }.min { $0.lowerBound < $1.lowerBound }
            return cut.map { String(tail[..<$0.lowerBound]) }
        case "chain", "command":
            let json = try check(server.call(["GET", key]), "GET").bytes ?? []
            return TopLevelJSON.string("sessionId", in: json)
        default:
            return nil
        }
    }

    /// The REDIS_TLS_* files from the environment when some URL is `rediss://`; a bad file
    /// stops the tool naming it.
    static func tlsSettings(_ lists: String) throws -> RedisTLSSettings? {
        guard lists.split(separator: ",").contains(where: { $0.trimmingCharacters(in: .whitespaces).hasPrefix("rediss://") }) else {
            return nil
        }
        let env = ProcessInfo.processInfo.environment
        do {
            let context = try TLSClientContext(caFile: env["REDIS_TLS_CA_FILE"], certificateFile: env["REDIS_TLS_CERT_FILE"],
                                               keyFile: env["REDIS_TLS_KEY_FILE"], variablePrefix: "REDIS_TLS")
            return RedisTLSSettings(context: context, serverName: env["REDIS_TLS_SERVER_NAME"])
        } catch {
            throw ValidationError(error.description)
        }
    }

    static func urls(_ text: String, _ option: String, tls: RedisTLSSettings? = nil) throws -> [RedisURL] {
        let items = text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        guard !items.isEmpty else { throw ValidationError("\(option) lists no URL") }
        do {
            return try items.map { text throws(RedisURL.Invalid) in
                var url = try RedisURL(parsing: text)
                if url.usesTLS { url.tls = tls }
                return url
            }
        } catch {
            throw ValidationError("\(option): \(error)")
        }
    }

    /// Two URLs name the same data when host, port and database match.
    static func identity(_ url: RedisURL) -> String { "\(url.host):\(url.port)/\(url.db)" }

    static func globEscaped(_ text: String) -> String {
        var out = ""
        for character in text {
            if "*?[]\\".contains(character) { out.append("\\") }
            out.append(character)
        }
        return out
    }

    @discardableResult
    static func check(_ result: Result<RedisReply, RedisDiscoveryError>, _ what: String) throws -> RedisReply {
        switch result {
        case .failure(let error): throw ValidationError("\(what): \(error)")
        case .success(.error(let message)): throw ValidationError("\(what): \(message)")
        case .success(let reply): return reply
        }
    }
}
