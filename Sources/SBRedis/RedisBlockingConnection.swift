import CHiredis
#if canImport(Glibc)
import Glibc
#endif

/// A plain blocking hiredis connection with connect and reply timeouts, for work that is not
/// on an event loop: the Sentinel queries of a resolver thread and the `switchboard reshard`
/// tool. Never use it on a loop thread.
public final class RedisBlockingConnection: RedisBlockingCalls {
    private let context: UnsafeMutablePointer<redisContext>
    let timeoutMilliseconds: Int

    /// `host` may be a name (resolved here, blocking).
    public init(host: String, port: Int, timeoutMilliseconds: Int) throws(RedisDiscoveryError) {
        let milliseconds = max(timeoutMilliseconds, 1)
        let timeout = timeval(tv_sec: milliseconds / 1000, tv_usec: (milliseconds % 1000) * 1000)
        guard let context = redisConnectWithTimeout(host, Int32(port), timeout) else {
            throw RedisDiscoveryError("cannot allocate a redis context")
        }
        if context.pointee.err != 0 {
            let message = withUnsafeBytes(of: context.pointee.errstr) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            redisFree(context)
            throw RedisDiscoveryError(message)
        }
        _ = redisSetTimeout(context, timeout)
        self.context = context
        self.timeoutMilliseconds = milliseconds
    }

    deinit { redisFree(context) }

    /// One command, one reply (an error reply is a `.success(.error…)`).
    public func call(_ arguments: RedisArguments) -> Result<RedisReply, RedisDiscoveryError> {
        let appended = arguments.withFormattedCommand { command, length in redisAppendFormattedCommand(context, command, length) }
        var raw: UnsafeMutableRawPointer?
        guard appended == REDIS_OK, redisGetReply(context, &raw) == REDIS_OK, let raw else {
            return .failure(RedisDiscoveryError(context.pointee.err != 0
                ? withUnsafeBytes(of: context.pointee.errstr) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
                : "no reply in \(timeoutMilliseconds) ms"))
        }
        defer { freeReplyObject(raw) }
        return .success(RedisReply(copying: UnsafePointer(raw.assumingMemoryBound(to: redisReply.self))))
    }
}

/// A blocking connection's one operation: a command and its reply. Plain TCP through hiredis's
/// blocking context (`RedisBlockingConnection`), TLS through `RedisPolledConnection`.
public protocol RedisBlockingCalls: AnyObject {
    func call(_ arguments: RedisArguments) -> Result<RedisReply, RedisDiscoveryError>
}
