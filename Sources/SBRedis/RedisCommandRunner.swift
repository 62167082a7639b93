public import SBEventLoop

/// Where a store sends its commands: one `RedisConnection` (a standalone Redis or a Sentinel
/// master), or a `RedisCluster`, which routes each command to its slot's master by `routedBy`
/// (the key a plain command touches) or by a script's first key. Loop thread, like both.
public protocol RedisCommandRunner: AnyObject, Sendable {
    var loop: EventLoop { get }
    /// Commands can be sent now. Any thread.
    var isReady: Bool { get }
    func start()
    func close()
    func send(_ arguments: RedisArguments, routedBy key: String?, _ completion: @escaping RedisConnection.Completion)
    func evalSHA(_ script: LuaScript, keys: [String], arguments: RedisArguments, _ completion: @escaping RedisConnection.Completion)
    /// Writes what is queued now instead of at the end of the turn (group commit runs there).
    func flushWrites()
}

extension RedisConnection: RedisCommandRunner {
    public func send(_ arguments: RedisArguments, routedBy key: String?, _ completion: @escaping Completion) {
        send(arguments, completion)
    }
}
