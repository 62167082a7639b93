/// The `Sec-WebSocket-Extensions` grammar (RFC 6455 §9.1, with RFC 7230's list and
/// quoted-string rules): `1#( token *( OWS ";" OWS token [ "=" ( token / quoted-string ) ] ) )`.
/// Parsed strictly: a value that breaks the grammar is refused as a whole, never guessed at.
/// Empty list elements (`a, , b`) are skipped, as RFC 7230 §7 asks of recipients.
public struct WebSocketExtensionOffer: Equatable, Sendable {
    public struct Parameter: Equatable, Sendable {
        /// Lowercased (extension and parameter names are tokens, compared case-insensitively).
        public var name: String
        /// nil when the parameter has no value; a quoted-string's content, unescaped.
        public var value: String?
    }

    /// Lowercased.
    public var name: String
    public var parameters: [Parameter]

    public struct Malformed: Error, Equatable, Sendable {
        public var reason: String
    }

    /// Parses every field value of the header (in order, as one list).
    public static func parseList(_ fieldValues: [String]) -> Result<[WebSocketExtensionOffer], Malformed> {
        var offers: [WebSocketExtensionOffer] = []
        for value in fieldValues {
            var scanner = Scanner(bytes: Array(value.utf8))
            do {
                try scanner.parseList(into: &offers)
            } catch {
                return .failure(error)
            }
        }
        return .success(offers)
    }

    /// Bounds what one header may make us hold (a hostile client can send megabytes of `;a`).
    static let maxElements = 64
    static let maxParametersPerElement = 32

    private struct Scanner {
        let bytes: [UInt8]
        var i = 0

        init(bytes: [UInt8]) { self.bytes = bytes }

        mutating func skipWhitespace() {
            while i < bytes.count, bytes[i] == 0x20 || bytes[i] == 0x09 { i += 1 }
        }

        mutating func token() -> String? {
            let start = i
            while i < bytes.count, Self.isTokenByte(bytes[i]) { i += 1 }
            guard i > start else { return nil }
            return String(decoding: bytes[start..<i], as: UTF8.self).lowercased()
        }

        /// After the opening quote: qdtext and quoted-pairs up to the closing quote.
        mutating func quotedString() throws(Malformed) -> String {
            var out: [UInt8] = []
            while i < bytes.count {
                let b = bytes[i]
                i += 1
                switch b {
                case 0x22: return String(decoding: out, as: UTF8.self)
                case 0x5C:
                    guard i < bytes.count, Self.isQuotedPairByte(bytes[i]) else { throw Malformed(reason: "bad escape in a quoted parameter value") }
                    out.append(bytes[i])
                    i += 1
                case 0x09, 0x20, 0x21, 0x23...0x5B, 0x5D...0x7E, 0x80...0xFF:
                    out.append(b)
                default:
                    throw Malformed(reason: "control character in a quoted parameter value")
                }
            }
            throw Malformed(reason: "unterminated quoted parameter value")
        }

        mutating func parseList(into offers: inout [WebSocketExtensionOffer]) throws(Malformed) {
            while true {
                skipWhitespace()
                if i == bytes.count { return }
                if bytes[i] == 0x2C { i += 1; continue }  // empty element
                guard let name = token() else { throw Malformed(reason: "extension name expected") }
                var offer = WebSocketExtensionOffer(name: name, parameters: [])
                skipWhitespace()
                while i < bytes.count, bytes[i] == 0x3B {
                    i += 1
                    skipWhitespace()
                    guard let parameter = token() else { throw Malformed(reason: "parameter name expected after ';'") }
                    var value: String?
                    skipWhitespace()
                    if i < bytes.count, bytes[i] == 0x3D {
                        i += 1
                        skipWhitespace()
                        if i < bytes.count, bytes[i] == 0x22 {
                            i += 1
                            value = try quotedString()
                        } else if let plain = token() {
                            value = plain
                        } else {
                            throw Malformed(reason: "value expected after '=' of \(parameter)")
                        }
                        skipWhitespace()
                    }
                    guard offer.parameters.count < WebSocketExtensionOffer.maxParametersPerElement else {
                        throw Malformed(reason: "more than \(WebSocketExtensionOffer.maxParametersPerElement) parameters in one extension")
                    }
                    offer.parameters.append(Parameter(name: parameter, value: value))
                }
                guard offers.count < WebSocketExtensionOffer.maxElements else {
                    throw Malformed(reason: "more than \(WebSocketExtensionOffer.maxElements) extensions offered")
                }
                offers.append(offer)
                if i == bytes.count { return }
                guard bytes[i] == 0x2C else { throw Malformed(reason: "',' or ';' expected after \(name)") }
                i += 1
            }
        }

        /// tchar (RFC 7230 §3.2.6).
        static func isTokenByte(_ b: UInt8) -> Bool {
            switch b {
            case 0x30...0x39, 0x41...0x5A, 0x61...0x7A: true
            case 0x21, 0x23, 0x24, 0x25, 0x26, 0x27, 0x2A, 0x2B, 0x2D, 0x2E, 0x5E, 0x5F, 0x60, 0x7C, 0x7E: true
            default: false
            }
        }

        static func isQuotedPairByte(_ b: UInt8) -> Bool {
            b == 0x09 || (b >= 0x20 && b != 0x7F)
        }
    }
}
