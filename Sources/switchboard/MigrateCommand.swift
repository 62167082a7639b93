import ArgumentParser
import Foundation
import SBCore
import SBRedis
import SBStore

/// `switchboard migrate --from <redis URL or shard list> --to-cluster <nodes>`: copies every
/// session (record, history, seq, epoch, times, chains, queues, idempotency records, command
/// records and the sessions index) from a standalone Redis (or each shard of a list) into a
/// Redis Cluster's layout (`RedisKeyMigration`), with DUMP / RESTORE keeping each key's TTL.
///
/// It copies and never deletes, and it never overwrites: a key already in the cluster is
/// counted as present and left (RESTORE without REPLACE), so running it again is safe and copies
/// only what is missing. Run it while no instance writes to the source; then start the
/// instances with REDIS_CLUSTER_NODES. `--cluster-url` gives the cluster's scheme (`rediss://`)
/// and credentials, as REDIS_URL does in cluster mode; `rediss://` takes the REDIS_TLS_*
/// files from the environment.
struct MigrateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "migrate",
        abstract: "Copy sessions from a standalone Redis (or a shard list) into a Redis Cluster's key layout.")

    @Option(help: "The source: a redis:// URL, or a comma list of shards.") var from: String
    @Option(help: "The cluster's seed nodes, host:port comma list (as REDIS_CLUSTER_NODES).") var toCluster: String
    @Option(help: "Scheme, user and password for the cluster nodes (as REDIS_URL in cluster mode).") var clusterUrl: String?
    @Option(help: "REDIS_PREFIX (default afw:).") var prefix: String = "afw:"
    @Flag(help: "Only count what would be copied.") var dryRun = false

    func run() throws {
        let tls = try ReshardCommand.tlsSettings(from + "," + (clusterUrl ?? ""))
        let sources = try ReshardCommand.urls(from, "--from", tls: tls)
        var clusterBase = try ReshardCommand.urls(clusterUrl ?? "redis://127.0.0.1", "--cluster-url", tls: tls)[0]
        clusterBase.db = 0
        let seeds: [RedisAddress]
        do {
            seeds = try SentinelSettings.parseAddresses(toCluster, setting: "--to-cluster", defaultPort: 6379)
        } catch {
            throw ValidationError("\(error)")
        }
        guard !seeds.isEmpty else { throw ValidationError("--to-cluster lists no node") }
        let cluster = try ClusterTarget(seeds: seeds, base: clusterBase)

        var sessions = Set<String>()
        var copied = 0, present = 0, skipped = 0, indexEntries = 0, pointers = 0
        for source in sources {
            let here = try ReshardCommand.connect(source)
            try ReshardCommand.forEachKey(on: here, prefix: prefix, source: source) { key in
                let destination = try RedisKeyMigration.destination(ofStandaloneKey: key, prefix: prefix) { chainKey in
                    let json = try ReshardCommand.check(here.call(["GET", chainKey]), "GET").bytes ?? []
                    return TopLevelJSON.string("sessionId", in: json)
                }
                let target: String
                switch destination {
                case .skip:
                    skipped += 1
                    return
                case .sessionIndex(let index):
                    let entries = try ReshardCommand.check(here.call(["ZRANGE", key, "0", "-1", "WITHSCORES"]), "ZRANGE").array ?? []
                    for pair in stride(from: 0, to: entries.count - 1, by: 2) {
                        guard let member = entries[pair].text, let score = entries[pair + 1].text else { continue }
                        sessions.insert(member)
                        indexEntries += 1
                        if !dryRun { try ReshardCommand.check(cluster.call(["ZADD", index, score, member], key: index), "ZADD") }
                    }
                    return
                case .key(let name):
                    target = name
                case .chain(let name, let pointer, let sessionId):
                    target = name
                    pointers += 1
                    if !dryRun {
                        let ttl = try ReshardCommand.check(here.call(["TTL", key]), "TTL").integer ?? -1
                        var set: RedisArguments = ["SET", pointer, sessionId]
                        if ttl > 0 { set.append("EX"); set.append(Int(ttl)) }
                        try ReshardCommand.check(cluster.call(set, key: pointer), "SET")
                    }
                }
                if let tag = Self.sessionTag(target) { sessions.insert(tag) }
                if dryRun {
                    copied += 1
                    return
                }
                let dump = try ReshardCommand.check(here.call(["DUMP", key]), "DUMP")
                guard let serialized = dump.bytes else { return }  // expired meanwhile
                let ttl = try ReshardCommand.check(here.call(["PTTL", key]), "PTTL").integer ?? -1
                if ttl == -2 { return }
                var restore: RedisArguments = ["RESTORE", target, String(max(ttl, 0))]
                restore.append(serialized)
                switch try cluster.call(restore, key: target).get() {
                case .error(let message) where message.hasPrefix("BUSYKEY"):
                    present += 1
                case .error(let message):
                    throw ValidationError("RESTORE \(target): \(message)")
                default:
                    copied += 1
                }
            }
        }
        print("\(dryRun ? "would copy" : "copied") \(sessions.count) sessions: \(copied) keys\(dryRun ? "" : ", \(present) already in the cluster (left as they are)"), \(indexEntries) index entries, \(pointers) chain pointers; \(skipped) keys not copied (instance registry, not the hub's) (\(sources.count) source(s) → cluster of \(cluster.masters) masters)")
    }

    /// The session id in a cluster-layout key's hash tag.
    static func sessionTag(_ key: String) -> String? {
        guard let open = key.firstIndex(of: "{"), let close = key[open...].firstIndex(of: "}") else { return nil }
        let tag = String(key[key.index(after: open)..<close])
        return tag == "instances" ? nil : tag
    }
}

/// The cluster, for a blocking tool: the slot map from a seed (`CLUSTER SLOTS`), one blocking
/// connection per master, each command sent to its key's master. A cluster that moves slots
/// meanwhile answers MOVED, which stops the tool (run it again once the cluster is stable).
struct ClusterTarget {
    let map: ClusterSlotMap
    private var connections: [RedisAddress: any RedisBlockingCalls] = [:]
    let base: RedisURL

    var masters: Int { map.masters.count }

    init(seeds: [RedisAddress], base: RedisURL) throws {
        self.base = base
        var found: ClusterSlotMap?
        var lastError = "no seed answered"
        for seed in seeds {
            do {
                let connection = try ReshardCommand.connect(base.at(seed))
                let reply = try ReshardCommand.check(connection.call(["CLUSTER", "SLOTS"]), "CLUSTER SLOTS")
                if let map = ClusterSlotMap.parse(slots: reply, askedHost: seed.host), map.isComplete {
                    found = map
                    break
                }
                lastError = "\(seed): the cluster does not serve every slot"
            } catch {
                lastError = "\(seed): \(error)"
            }
        }
        guard let found else { throw ValidationError("--to-cluster: \(lastError)") }
        map = found
        for master in found.masters { connections[master] = try ReshardCommand.connect(base.at(master)) }
    }

    func call(_ arguments: RedisArguments, key: String) throws -> Result<RedisReply, RedisDiscoveryError> {
        guard let owner = map.owner(ofSlot: ClusterSlot.of(key)), let connection = connections[owner] else {
            throw ValidationError("no master for \(key)")
        }
        return connection.call(arguments)
    }
}
