import Logging
import SBEventLoop
import SBHub
import SBStore

/// Chooses and owns the store: the embedded MemoryStore, or Redis when REDIS_URL is set.
final class StorageWiring: @unchecked Sendable {
    let kind: StorageKind
    private let memory: MemoryStore?

    private init(kind: StorageKind, memory: MemoryStore?) {
        self.kind = kind
        self.memory = memory
    }

    static func make(configuration: Configuration, settings: StoreSettings, group: EventLoopGroup, logger: Logger) throws -> StorageWiring {
        if configuration.redisURL != nil {
            throw Configuration.Invalid(description: "REDIS_URL is set but this build has no Redis store yet")
        }
        return StorageWiring(kind: .memory, memory: MemoryStore(settings: settings))
    }

    func storeFor(_ loop: EventLoop) -> any Store {
        memory!
    }

    func connect(_ hub: Hub) {
        memory?.setListener(hub)
    }

    func start() {}

    func close() {}
}
