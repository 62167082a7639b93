import Foundation
public import SBEventLoop

/// Finds a connection's server without blocking its event loop: the lookup (a `getaddrinfo`,
/// Sentinel queries) runs elsewhere and the result comes back on `loop`.
public protocol RedisResolver: Sendable {
    /// `completion` runs on `loop`, exactly once.
    func resolve(_ endpoint: RedisEndpoint, on loop: EventLoop,
                 _ completion: @escaping @Sendable (Result<RedisAddress, RedisDiscoveryError>) -> Void)
}

/// Runs each lookup on a thread of its own and hands the result to the loop with
/// `loop.execute`. A connection has at most one lookup in flight, so the threads are bounded
/// by the number of connections; each lives as long as one lookup (sentinel timeouts bound it,
/// except a `getaddrinfo` stuck on DNS, which then only delays that connection).
public struct ThreadResolver: RedisResolver {
    let lookUp: @Sendable (RedisEndpoint) -> Result<RedisAddress, RedisDiscoveryError>

    /// `lookUp` is replaceable for tests; the default is the real, blocking `RedisDiscovery`.
    public init(lookUp: @escaping @Sendable (RedisEndpoint) -> Result<RedisAddress, RedisDiscoveryError> = RedisDiscovery.lookUp) {
        self.lookUp = lookUp
    }

    public func resolve(_ endpoint: RedisEndpoint, on loop: EventLoop,
                        _ completion: @escaping @Sendable (Result<RedisAddress, RedisDiscoveryError>) -> Void) {
        let lookUp = self.lookUp
        let thread = Thread {
            let result = lookUp(endpoint)
            loop.execute { completion(result) }
        }
        thread.name = "redis-resolver"
        thread.stackSize = 256 << 10
        thread.start()
    }
}
