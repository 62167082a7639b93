/// permessage-deflate (RFC 7692): which offer the server accepts and what it answers.
///
/// The server always answers `server_no_context_takeover` and `client_no_context_takeover`:
/// every message, in both directions, is a DEFLATE stream of its own. That lets one compressed
/// frame per event serve every subscriber (no per-connection compressor), and lets the server
/// inflate a message with its loop's inflater and keep no zlib state per connection. RFC 7692
/// §7.1.1.1 and §7.1.1.2 allow a server to include both parameters in any response, whether
/// or not the offer named them, and a client must honour them.
public enum PerMessageDeflate {
    public static let extensionName = "permessage-deflate"

    /// What was agreed with one client.
    public struct Agreement: Equatable, Sendable {
        /// The client's LZ77 window for our messages (`server_max_window_bits`, 8-15; 15 when
        /// the offer did not limit it).
        public var serverMaxWindowBits: UInt8
        /// The `server_max_window_bits` value the response repeats, when the offer had one.
        var answersServerWindow: Bool

        /// The `Sec-WebSocket-Extensions` value of the 101 response.
        public var responseHeaderValue: String {
            var value = "\(PerMessageDeflate.extensionName); server_no_context_takeover; client_no_context_takeover"
            if answersServerWindow { value += "; server_max_window_bits=\(serverMaxWindowBits)" }
            return value
        }

        /// The longest payload that may be sent compressed to this client. Our deflater uses a
        /// 15-bit window, so with the full window any length is fine. With a smaller one: a
        /// message is a fresh stream, so no back-reference reaches further back than the message
        /// is long, and up to 2^bits bytes the client's window suffices. Longer messages then go
        /// uncompressed (compression is per message).
        public var maxCompressiblePayload: Int { PerMessageDeflate.maxCompressiblePayload(serverMaxWindowBits: serverMaxWindowBits) }
    }

    public enum Negotiation: Equatable, Sendable {
        /// No acceptable permessage-deflate offer: the connection runs without the extension.
        case none
        case accepted(Agreement)
        /// The header breaks RFC 6455's grammar: answer 400.
        case malformed(String)
    }

    /// `fieldValues`: every `Sec-WebSocket-Extensions` field of the upgrade request. The first
    /// permessage-deflate offer the server can honour is accepted; an offer with an unknown
    /// parameter, a repeated parameter or an invalid value is declined (RFC 7692 §5, §7), and the
    /// next one is considered. Other extensions are ignored (never accepted).
    public static func negotiate(_ fieldValues: [String]) -> Negotiation {
        guard !fieldValues.isEmpty else { return .none }
        switch WebSocketExtensionOffer.parseList(fieldValues) {
        case .failure(let malformed):
            return .malformed("Sec-WebSocket-Extensions: \(malformed.reason)")
        case .success(let offers):
            for offer in offers where offer.name == extensionName {
                if let agreement = accept(offer) { return .accepted(agreement) }
            }
            return .none
        }
    }

    /// The agreement for one offer, or nil when it must be declined.
    static func accept(_ offer: WebSocketExtensionOffer) -> Agreement? {
        var seen: Set<String> = []
        var serverWindow: UInt8?
        for parameter in offer.parameters {
            guard seen.insert(parameter.name).inserted else { return nil }  // §7: duplicate
            switch parameter.name {
            case "server_no_context_takeover", "client_no_context_takeover":
                // §7.1.1: these have no value. We answer both whatever the offer says.
                guard parameter.value == nil else { return nil }
            case "server_max_window_bits":
                // §7.1.2.1: a value is required.
                guard let text = parameter.value, let bits = windowBits(text) else { return nil }
                serverWindow = bits
            case "client_max_window_bits":
                // §7.1.2.2: no value, or a valid one. We inflate with a 15-bit window, which
                // reads any smaller one, so we never answer it (§7.1.2.2 lets the server omit it).
                if let text = parameter.value, windowBits(text) == nil { return nil }
            default:
                return nil  // §7: a parameter not defined for an offer
            }
        }
        return Agreement(serverMaxWindowBits: serverWindow ?? 15, answersServerWindow: serverWindow != nil)
    }

    /// 8-15 as decimal digits without leading zeros (RFC 7692 §7.1.2.1).
    static func windowBits(_ text: String) -> UInt8? {
        guard let first = text.utf8.first, first != UInt8(ascii: "0"), text.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
              text.utf8.count <= 2, let value = UInt8(text), (8...15).contains(value) else { return nil }
        return value
    }

    /// See `Agreement.maxCompressiblePayload`.
    public static func maxCompressiblePayload(serverMaxWindowBits: UInt8) -> Int {
        serverMaxWindowBits >= deflaterWindowBits ? Int.max : 1 << Int(serverMaxWindowBits)
    }

    /// The window `MessageDeflater` compresses with.
    static let deflaterWindowBits: UInt8 = 15

    /// The four bytes a sender removes from the end of a compressed message, and a receiver
    /// appends before inflating (RFC 7692 §7.2.1, §7.2.2).
    static let tail: [UInt8] = [0x00, 0x00, 0xFF, 0xFF]
}
