public import SBTLS
import SBCore

/// How `rediss://` connections speak TLS: the client context (the CAs that verify the server,
/// the client certificate if any) and the name the server's certificate must carry. One per
/// process, shared by every connection; SIGHUP replaces the context (`replace`), and each new
/// connection takes the one current when it opens its socket. Any thread.
public final class RedisTLSSettings: Sendable, Equatable {
    // `Locked` (pthread), not `Mutex`: ThreadSanitizer cannot see Mutex's futex on Linux.
    private let current: Locked<TLSClientContext>
    /// REDIS_TLS_SERVER_NAME: the name checked (and sent as SNI) instead of the URL's host,
    /// e.g. when the URL names an IP address or a tunnel.
    public let serverName: String?

    public init(context: TLSClientContext, serverName: String?) {
        current = Locked(context)
        self.serverName = serverName
    }

    public var context: TLSClientContext { current.withLock { $0 } }

    /// New connections use `context`; open ones keep theirs.
    public func replace(_ context: TLSClientContext) {
        current.withLock { $0 = context }
    }

    /// The same settings object (the URL's equality stays a value's for everything else).
    public static func == (lhs: RedisTLSSettings, rhs: RedisTLSSettings) -> Bool { lhs === rhs }
}
