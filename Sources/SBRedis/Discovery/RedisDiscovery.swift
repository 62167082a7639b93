#if canImport(Glibc)
import Glibc
#endif

/// Why no address could be found. The connection logs it and retries with backoff.
public struct RedisDiscoveryError: Error, Sendable, Equatable, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// The blocking part of finding a server: `getaddrinfo` and the Sentinel queries. Only ever
/// run on a resolver thread (`ThreadResolver`), never on an event loop.
public enum RedisDiscovery {
    /// Where `endpoint` is now, as a numeric address.
    public static func lookUp(_ endpoint: RedisEndpoint) -> Result<RedisAddress, RedisDiscoveryError> {
        switch endpoint {
        case .direct(let host, let port):
            return numericAddress(of: host).map { RedisAddress(host: $0, port: port) }
        case .sentinel(let settings):
            return askSentinels(settings)
        }
    }

    /// The first address `getaddrinfo` gives for `host`; a numeric host is returned as is.
    public static func numericAddress(of host: String) -> Result<String, RedisDiscoveryError> {
        guard !RedisURL.isNumericAddress(host) else { return .success(host) }
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var result: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(host, nil, &hints, &result)
        guard status == 0, let first = result else {
            return .failure(RedisDiscoveryError("host \(host) could not be resolved: \(String(cString: gai_strerror(status)))"))
        }
        defer { freeaddrinfo(result) }
        var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN) + 1)
        let ok: Bool = switch first.pointee.ai_family {
        case AF_INET:
            first.pointee.ai_addr.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { address in
                var raw = address.pointee.sin_addr
                return inet_ntop(AF_INET, &raw, &buffer, socklen_t(buffer.count)) != nil
            }
        case AF_INET6:
            first.pointee.ai_addr.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { address in
                var raw = address.pointee.sin6_addr
                return inet_ntop(AF_INET6, &raw, &buffer, socklen_t(buffer.count)) != nil
            }
        default:
            false
        }
        guard ok else { return .failure(RedisDiscoveryError("host \(host) resolved to no usable address")) }
        return .success(String(cString: buffer))
    }

    /// Asks each sentinel in turn (short connect and reply timeouts) for the master's address;
    /// the first that knows it wins and moves to the front. The caller still checks with ROLE
    /// that the address it connects to is a master: a sentinel's view can be stale.
    static func askSentinels(_ settings: SentinelSettings) -> Result<RedisAddress, RedisDiscoveryError> {
        var failures: [String] = []
        for sentinel in settings.sentinels {
            switch ask(sentinel, settings) {
            case .success(let (master, peers)):
                settings.answered(sentinel, peers: peers)
                return numericAddress(of: master.host).map { RedisAddress(host: $0, port: master.port) }
            case .failure(let error):
                failures.append("\(sentinel): \(error.description)")
            }
        }
        return .failure(RedisDiscoveryError("no sentinel named master \(settings.masterName) (\(failures.joined(separator: "; ")))"))
    }

    private static func ask(_ sentinel: RedisAddress, _ settings: SentinelSettings)
        -> Result<(RedisAddress, [RedisAddress]), RedisDiscoveryError> {
        let call: (RedisArguments) -> Result<RedisReply, RedisDiscoveryError>
        do throws(RedisDiscoveryError) {
            if let tls = settings.tls {
                // hiredis's blocking context has no TLS: the hub's own socket pieces, polled.
                let address = try numericAddress(of: sentinel.host).get()
                let connection = try RedisPolledConnection.connect(
                    address: RedisAddress(host: address, port: sentinel.port),
                    tls: RedisSocket.TLS(context: tls.context, serverName: tls.serverName ?? sentinel.host),
                    timeoutMilliseconds: settings.queryTimeoutMilliseconds)
                call = connection.call
            } else {
                let connection = try RedisBlockingConnection(host: sentinel.host, port: sentinel.port,
                                                             timeoutMilliseconds: settings.queryTimeoutMilliseconds)
                call = connection.call
            }
        } catch {
            return .failure(error)
        }
        if let password = settings.password {
            // Never log the password; the server's message names none.
            if case .success(.error(let message)) = call(["AUTH", password]) {
                return .failure(RedisDiscoveryError("AUTH: \(message)"))
            }
        }
        let master: RedisAddress
        switch call(["SENTINEL", "get-master-addr-by-name", settings.masterName]) {
        case .failure(let error):
            return .failure(error)
        case .success(.array(let parts)) where parts.count == 2:
            guard let host = parts[0].bytes, let portText = parts[1].bytes,
                  let port = Int(String(decoding: portText, as: UTF8.self)) else {
                return .failure(RedisDiscoveryError("malformed reply to SENTINEL get-master-addr-by-name"))
            }
            master = RedisAddress(host: String(decoding: host, as: UTF8.self), port: port)
        case .success(.error(let message)):
            return .failure(RedisDiscoveryError(message))
        case .success:
            return .failure(RedisDiscoveryError("does not monitor a master named \(settings.masterName)"))
        }
        // Learn the other sentinels of this master (best effort).
        var peers: [RedisAddress] = []
        if case .success(.array(let entries)) = call(["SENTINEL", "sentinels", settings.masterName]) {
            for entry in entries {
                guard let fields = entry.array else { continue }
                var ip: String?, port: Int?
                for index in stride(from: 0, to: fields.count - 1, by: 2) {
                    guard let name = fields[index].bytes, let value = fields[index + 1].bytes else { continue }
                    switch String(decoding: name, as: UTF8.self) {
                    case "ip": ip = String(decoding: value, as: UTF8.self)
                    case "port": port = Int(String(decoding: value, as: UTF8.self))
                    default: break
                    }
                }
                if let ip, let port { peers.append(RedisAddress(host: ip, port: port)) }
            }
        }
        return .success((master, peers))
    }
}
