import Foundation
public import Logging
import SBCore
public import SBEventLoop
public import SBRedis

/// The shared store: one instance per event loop, each with its own pipelined connection on
/// that loop, so completions come back on the calling thread. Key layout (prefix P):
/// `P sessions:{id}`, `P sessions:index`, `P events:{sid}`, `P seq:{sid}`, `P chains:{sid}`,
/// `P chain:{cid}`, `P commands:{sid}`, `P input:{sid}`, `P command:{id}`, channel `P events`.
public final class RedisStore: Store, @unchecked Sendable {
    public let kind = StorageKind.redis
    public let connection: RedisConnection
    let keys: RedisKeys
    let settings: StoreSettings
    var scriptSHA: [RedisScript: [UInt8]] = [:]

    public init(loop: EventLoop, url: RedisURL, prefix: String, settings: StoreSettings, logger: Logger) {
        connection = RedisConnection(loop: loop, url: url, logger: logger)
        keys = RedisKeys(prefix: prefix)
        self.settings = settings
        connection.onConnect = { [unowned self] connection, finish in
            connection.authenticateAndSelect { ok in
                guard ok else { return finish(false) }
                self.loadScripts(finish)
            }
        }
    }

    public var isAvailable: Bool { connection.isReady }

    public func start() { connection.start() }

    public func close() { connection.close() }

    private func loadScripts(_ finish: @escaping (Bool) -> Void) {
        var remaining = RedisScript.allCases.count
        var failed = false
        for script in RedisScript.allCases {
            connection.send([Array("SCRIPT".utf8), Array("LOAD".utf8), Array(script.source.utf8)]) { [weak self] result in
                if case .success(.string(let sha)) = result { self?.scriptSHA[script] = sha } else { failed = true }
                remaining -= 1
                if remaining == 0 { finish(!failed) }
            }
        }
    }

    /// EVALSHA, falling back to EVAL when the server lost the script (NOSCRIPT).
    func run(_ script: RedisScript, keys: [String], args: [[UInt8]], _ done: @escaping (Result<RedisReply, StoreError>) -> Void) {
        var tail: [[UInt8]] = [Array(String(keys.count).utf8)]
        tail.append(contentsOf: keys.map { Array($0.utf8) })
        tail.append(contentsOf: args)
        let sha = scriptSHA[script]
        let first: [[UInt8]] = sha.map { [Array("EVALSHA".utf8), $0] } ?? [Array("EVAL".utf8), Array(script.source.utf8)]
        connection.send(first + tail) { [weak self] result in
            if case .success(.error(let message)) = result, message.hasPrefix("NOSCRIPT"), let self {
                self.connection.send([Array("EVAL".utf8), Array(script.source.utf8)] + tail) { done(Self.map($0)) }
                return
            }
            done(Self.map(result))
        }
    }

    func command(_ arguments: [String], _ done: @escaping (Result<RedisReply, StoreError>) -> Void) {
        connection.send(arguments.map { Array($0.utf8) }) { done(Self.map($0)) }
    }

    static func map(_ result: Result<RedisReply, RedisError>) -> Result<RedisReply, StoreError> {
        switch result {
        case .success(.error(let message)): .failure(.unavailable("redis error: \(message)"))
        case .success(let reply): .success(reply)
        case .failure(.unavailable): .failure(.unavailable("redis is not connected"))
        case .failure(.disconnected): .failure(.unavailable("redis connection lost before the reply"))
        case .failure(.timeout): .failure(.unavailable("redis did not answer in time"))
        case .failure(.server(let message)): .failure(.unavailable("redis error: \(message)"))
        }
    }

    var ttl: [UInt8] { Array(String(settings.sessionTTLSeconds).utf8) }
    var queueTTL: [UInt8] { Array(String(settings.queueTTLSeconds).utf8) }
    static func now() -> String { ISO8601.format(milliseconds: MonotonicClock.wallMilliseconds()) }

    // MARK: Events

    public func appendEvents(_ events: [NewEvent], _ done: @escaping (Result<[AppendedEvent], StoreError>) -> Void) {
        var keyList: [String] = []
        keyList.reserveCapacity(events.count * 2)
        var args: [[UInt8]] = [Array(String(max(settings.historyLimit, 1)).utf8), ttl, Array(keys.channel.utf8), Array(Self.now().utf8)]
        for event in events {
            keyList.append(keys.seq(event.sessionId))
            keyList.append(keys.events(event.sessionId))
            args.append(Array(event.sessionId.utf8))
            args.append(event.body)
        }
        run(.appendEvents, keys: keyList, args: args) { result in
            switch result {
            case .failure(let error): done(.failure(error))
            case .success(let reply):
                let seqs = reply.array?.compactMap(\.integer) ?? []
                guard seqs.count == events.count else { return done(.failure(.unavailable("unexpected reply to append"))) }
                done(.success(zip(events, seqs).map { AppendedEvent(sessionId: $0.sessionId, eventId: $0.eventId, seq: $1) }))
            }
        }
    }

    public func events(sessionId: String, query: EventQuery, _ done: @escaping (Result<[StoredEvent], StoreError>) -> Void) {
        command(["LRANGE", keys.events(sessionId), "0", "-1"]) { result in
            switch result {
            case .failure(let error): done(.failure(error))
            case .success(let reply):
                var events: [StoredEvent] = []
                for item in reply.array ?? [] {
                    guard let json = item.bytes, let seq = StoredEventJSON.seq(of: json) else { continue }
                    if let after = query.after, seq <= after { continue }
                    if let since = query.sinceMillis {
                        guard let millis = StoredEventJSON.timestampMillis(of: json), millis >= since else { continue }
                    }
                    events.append(StoredEvent(seq: seq, json: json))
                }
                done(.success(EventQueryWindow.apply(query, to: events)))
            }
        }
    }
}

/// Every key name, in one place.
struct RedisKeys {
    let prefix: String
    var channel: String { prefix + "events" }
    var sessionIndex: String { prefix + "sessions:index" }
    func session(_ id: String) -> String { prefix + "sessions:" + id }
    func events(_ sid: String) -> String { prefix + "events:" + sid }
    func seq(_ sid: String) -> String { prefix + "seq:" + sid }
    func chains(_ sid: String) -> String { prefix + "chains:" + sid }
    func chain(_ id: String) -> String { prefix + "chain:" + id }
    func queue(_ kind: QueueKind, _ sid: String) -> String { prefix + (kind == .commands ? "commands:" : "input:") + sid }
    func command(_ id: String) -> String { prefix + "command:" + id }
}
