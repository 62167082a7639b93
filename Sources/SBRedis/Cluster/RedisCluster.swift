public import Logging
public import SBEventLoop
import SBCore
import Synchronization

/// Redis Cluster for one event loop: the slot map, and one `RedisConnection` per master,
/// opened when a command first needs it. Every command goes to its slot's master and follows
/// the cluster's answers (`ClusterRequestAttempts`: MOVED, ASK, TRYAGAIN, CLUSTERDOWN).
///
/// The map comes from `CLUSTER SHARDS` (`CLUSTER SLOTS` on servers without it), asked of any
/// ready connection (the seed nodes' connections stay open for this), and is asked again after
/// a MOVED, when a master's connection drops, and every `refreshInterval`.
///
/// `url` gives the scheme (`rediss://` = TLS to every node), user and password; its host and
/// port are not used. Confinement as for `RedisConnection`: loop thread, except `isReady`.
public final class RedisCluster: RedisCommandRunner, @unchecked Sendable {
    public let loop: EventLoop
    public let seeds: [RedisAddress]
    let url: RedisURL
    let scripts: [LuaScript]
    let logger: Logger
    let commandTimeout: Duration
    let retryBudgetMilliseconds: Int
    let refreshInterval: Duration
    let clock: any MonotonicClockSource
    public private(set) var map = ClusterSlotMap()
    private var connections: [RedisAddress: RedisConnection] = [:]
    private var refreshTimer: TimerHandle?
    private var refreshRunning = false
    private var refreshAgain = false
    private var closed = false
    private let readyFlag = Atomic<Bool>(false)
    /// Called on the loop after every refresh that changed the map.
    public var onMapChange: ((ClusterSlotMap) -> Void)?
    /// Called on the loop after every refresh that got a map, changed or not.
    public var onRefreshed: (() -> Void)?

    public init(loop: EventLoop, seeds: [RedisAddress], url: RedisURL, logger: Logger, scripts: [LuaScript] = [],
                commandTimeout: Duration = .seconds(2), retryBudgetMilliseconds: Int = 2000,
                refreshInterval: Duration = .seconds(5)) {
        precondition(!seeds.isEmpty, "at least one seed node")
        self.loop = loop
        self.seeds = seeds
        self.url = url
        self.logger = logger
        self.scripts = scripts
        self.commandTimeout = commandTimeout
        self.retryBudgetMilliseconds = retryBudgetMilliseconds
        self.refreshInterval = refreshInterval
        clock = SystemMonotonicClock()
    }

    /// Every slot has a master and some node answers. Any thread.
    public var isReady: Bool { readyFlag.load(ordering: .acquiring) }

    /// Loop thread.
    public func start() {
        for seed in seeds { _ = connection(to: seed) }
        refreshTimer = loop.scheduleRepeating(every: refreshInterval) { [weak self] in self?.refreshMap() }
    }

    /// Loop thread. Pending replies still arrive.
    public func close() {
        closed = true
        if let refreshTimer { loop.cancel(refreshTimer) }
        refreshTimer = nil
        for connection in connections.values { connection.close() }
        readyFlag.store(false, ordering: .releasing)
    }

    public func flushWrites() {
        for connection in connections.values { connection.flushWrites() }
    }

    /// The master serving `key`'s slot, when known.
    public func master(of key: String) -> RedisAddress? { map.owner(ofSlot: ClusterSlot.of(key)) }

    // MARK: Commands

    public func send(_ arguments: RedisArguments, routedBy key: String?, _ completion: @escaping RedisConnection.Completion) {
        route(slot: key.map(ClusterSlot.of), attempts: ClusterRequestAttempts(now: clock.nowNanoseconds(), budgetMilliseconds: retryBudgetMilliseconds),
              to: nil, asking: false, perform: { connection, done in connection.send(arguments, done) }, completion)
    }

    public func evalSHA(_ script: LuaScript, keys: [String], arguments: RedisArguments, _ completion: @escaping RedisConnection.Completion) {
        route(slot: keys.first.map(ClusterSlot.of), attempts: ClusterRequestAttempts(now: clock.nowNanoseconds(), budgetMilliseconds: retryBudgetMilliseconds),
              to: nil, asking: false, perform: { connection, done in connection.evalSHA(script, keys: keys, arguments: arguments, done) }, completion)
    }

    /// Sends to `target` (a redirection) or to the slot's master (any master for a command
    /// without a key), and follows what `attempts` decides with each outcome.
    private func route(slot: Int?, attempts: ClusterRequestAttempts, to target: RedisAddress?, asking: Bool,
                       perform: @escaping (RedisConnection, @escaping RedisConnection.Completion) -> Void,
                       _ completion: @escaping RedisConnection.Completion) {
        var attempts = attempts
        let address = target ?? slot.flatMap { map.owner(ofSlot: $0) } ?? (slot == nil ? map.masters.first : nil)
        guard let address, !closed else {
            refreshMap()
            return follow(attempts.noRoute(now: clock.nowNanoseconds()), slot: slot, attempts: attempts, perform: perform,
                          result: .failure(.unavailable), completion)
        }
        let connection = connection(to: address)
        guard connection.isReady else {
            return follow(attempts.outcome(.failure(.unavailable), now: clock.nowNanoseconds()), slot: slot, attempts: attempts,
                          perform: perform, result: .failure(.unavailable), completion)
        }
        if asking { connection.send(["ASKING"]) { _ in } }
        perform(connection) { [weak self] result in
            guard let self else { return completion(result) }
            if case .failure = result { refreshMap() }
            follow(attempts.outcome(result, now: clock.nowNanoseconds()), slot: slot, attempts: attempts, perform: perform,
                   result: result, completion)
        }
    }

    private func follow(_ action: ClusterRequestAttempts.Action, slot: Int?, attempts: ClusterRequestAttempts,
                        perform: @escaping (RedisConnection, @escaping RedisConnection.Completion) -> Void,
                        result: Result<RedisReply, RedisError>, _ completion: @escaping RedisConnection.Completion) {
        switch action {
        case .complete:
            completion(result)
        case .fail(let reason):
            logger.debug("redis cluster command failed", metadata: ["reason": "\(reason)"])
            completion(result.isFailure ? result : .failure(.unavailable))
        case .redirect(let address, let asking, let refresh, let movedSlot):
            if let movedSlot { map.assign(slot: movedSlot, to: address) }
            if refresh { refreshMap() }
            route(slot: slot, attempts: attempts, to: address, asking: asking, perform: perform, completion)
        case .retry(let milliseconds):
            refreshMap()
            loop.schedule(after: .milliseconds(milliseconds)) { [weak self] in
                guard let self else { return completion(.failure(.unavailable)) }
                route(slot: slot, attempts: attempts, to: nil, asking: false, perform: perform, completion)
            }
        }
    }

    private func connection(to address: RedisAddress) -> RedisConnection {
        if let known = connections[address] { return known }
        let connection = RedisConnection(loop: loop, url: url.at(address), logger: logger, scripts: scripts, commandTimeout: commandTimeout)
        connection.onStateChange = { [weak self] state in
            guard let self else { return }
            if state == .ready, map.isEmpty || !isReady { refreshMap() }
            if state == .down, map.masters.contains(address) { refreshMap() }
        }
        connections[address] = connection
        if !closed { connection.start() }
        return connection
    }

    // MARK: The slot map

    /// Asks a ready node for the map (one refresh at a time; one more if asked meanwhile).
    public func refreshMap() {
        guard !closed else { return }
        if refreshRunning {
            refreshAgain = true
            return
        }
        // Masters first: a seed that became a replica may lag behind.
        let candidates = map.masters + seeds + Array(connections.keys)
        guard let node = candidates.lazy.compactMap({ self.connections[$0] }).first(where: \.isReady) else {
            readyFlag.store(false, ordering: .releasing)
            // No node answers: also try every master the map knows, in case the seeds are gone
            // for good (their connections keep trying too).
            for master in map.masters where connections[master] == nil { _ = connection(to: master) }
            return
        }
        refreshRunning = true
        node.send(["CLUSTER", "SHARDS"]) { [weak self] result in
            guard let self else { return }
            if case .success(.error) = result {
                node.send(["CLUSTER", "SLOTS"]) { [weak self] result in
                    self?.mapAnswered(result.flatMap {
                        ClusterSlotMap.parse(slots: $0, askedHost: node.url.host).map { .success($0) } ?? .failure(.unavailable)
                    })
                }
                return
            }
            mapAnswered(result.flatMap {
                ClusterSlotMap.parse(shards: $0, tls: url.usesTLS, askedHost: node.url.host).map { .success($0) } ?? .failure(.unavailable)
            })
        }
    }

    private func mapAnswered(_ result: Result<ClusterSlotMap, RedisError>) {
        refreshRunning = false
        switch result {
        case .success(let fresh) where !fresh.isEmpty:
            let changed = fresh != map
            map = fresh
            // Connections to nodes that are neither masters nor seeds any more are let go.
            for (address, connection) in connections where !fresh.masters.contains(address) && !seeds.contains(address) {
                connection.close()
                connections[address] = nil
            }
            readyFlag.store(fresh.isComplete, ordering: .releasing)
            if changed {
                logger.info("redis cluster slot map", metadata: ["masters": "\(fresh.masters.map(\.description).joined(separator: ","))",
                                                                 "complete": "\(fresh.isComplete)"])
                onMapChange?(fresh)
            }
            onRefreshed?()
        default:
            logger.debug("redis cluster: no slot map in the answer")
        }
        if refreshAgain {
            refreshAgain = false
            refreshMap()
        }
    }
}

extension Result {
    var isFailure: Bool {
        if case .failure = self { return true }
        return false
    }
}
