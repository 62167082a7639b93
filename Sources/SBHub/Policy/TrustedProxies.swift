#if canImport(Glibc)
import Glibc
#endif

/// `TRUSTED_PROXIES`: CIDR blocks (IPv4 or IPv6) whose `X-Forwarded-For` names the client. The
/// client is the rightmost address in the header that is not itself a trusted proxy (each
/// proxy appends the address it received from), so a client cannot pick its own address by
/// sending the header itself.
public struct TrustedProxies: Sendable, Equatable {
    struct Block: Sendable, Equatable {
        var address: [UInt8]
        var prefix: Int
    }

    let blocks: [Block]

    /// No trusted proxy: the TCP peer is the client.
    public static let none = TrustedProxies(blocks: [])

    private init(blocks: [Block]) {
        self.blocks = blocks
    }

    public struct Invalid: Error, CustomStringConvertible {
        public let description: String
    }

    /// A comma list such as `127.0.0.1/32, 10.0.0.0/8, ::1/128`; a bare address is one host.
    public init(parsing text: String) throws(Invalid) {
        var blocks: [Block] = []
        for raw in text.split(separator: ",") {
            let item = raw.trimmingCharacters(in: " \t")
            guard !item.isEmpty else { continue }
            let parts = item.split(separator: "/", maxSplits: 1).map(String.init)
            guard let address = Self.parse(parts[0]) else { throw Invalid(description: "TRUSTED_PROXIES: '\(item)' is not an IP address or CIDR block") }
            let bits = address.count * 8
            var prefix = bits
            if parts.count == 2 {
                guard let value = Int(parts[1]), (0...bits).contains(value) else {
                    throw Invalid(description: "TRUSTED_PROXIES: '\(item)' has a prefix length outside 0...\(bits)")
                }
                prefix = value
            }
            blocks.append(Block(address: address, prefix: prefix))
        }
        self.blocks = blocks
    }

    public var isEmpty: Bool { blocks.isEmpty }

    func contains(_ text: String) -> Bool {
        guard let address = Self.parse(text) else { return false }
        return blocks.contains { block in
            guard block.address.count == address.count else { return false }
            var remaining = block.prefix
            for i in 0..<address.count where remaining > 0 {
                let take = min(8, remaining)
                let mask: UInt8 = take == 8 ? 0xFF : ~(0xFF >> UInt8(take))
                if address[i] & mask != block.address[i] & mask { return false }
                remaining -= take
            }
            return true
        }
    }

    /// The client's address: `peer` unless it is a trusted proxy with an `X-Forwarded-For`.
    func client(peer: String, forwardedFor: String?) -> String {
        guard !blocks.isEmpty, let forwardedFor, contains(peer) else { return peer }
        var client = peer
        for hop in forwardedFor.split(separator: ",").reversed() {
            let address = hop.trimmingCharacters(in: " \t")
            guard Self.parse(address) != nil else { break }  // garbage: stop at the last trusted hop
            client = address
            if !contains(address) { break }
        }
        return client
    }

    /// 4 or 16 bytes, or nil. IPv4-mapped IPv6 addresses (`::ffff:a.b.c.d`) compare as IPv4.
    static func parse(_ text: String) -> [UInt8]? {
        var v4 = in_addr()
        if inet_pton(AF_INET, text, &v4) == 1 {
            return withUnsafeBytes(of: &v4) { Array($0) }
        }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, text, &v6) == 1 {
            let bytes = withUnsafeBytes(of: &v6) { Array($0) }
            if bytes[0..<10].allSatisfy({ $0 == 0 }), bytes[10] == 0xFF, bytes[11] == 0xFF { return Array(bytes[12...]) }
            return bytes
        }
        return nil
    }
}

extension StringProtocol {
    fileprivate func trimmingCharacters(in set: String) -> String {
        let drop = Set(set)
        var slice = Substring(self)
        while let first = slice.first, drop.contains(first) { slice.removeFirst() }
        while let last = slice.last, drop.contains(last) { slice.removeLast() }
        return String(slice)
    }
}
