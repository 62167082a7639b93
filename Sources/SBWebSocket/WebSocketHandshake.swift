import SBCrypto
import SBHTTP

/// The server side of the opening handshake (RFC 6455 §4.2).
public enum WebSocketHandshake {
    static let guid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

    public enum Failure: Error, Equatable, Sendable {
        case badRequest(String)
        case upgradeRequired
    }

    public static func acceptValue(forKey key: String) -> String {
        Base64.encode(SHA1.hash(Array((key + guid).utf8)))
    }

    /// `header` looks up a lowercased header name. Returns the Sec-WebSocket-Accept value.
    public static func validate(method: String, versionMinor: Int, header: (String) -> String?) -> Result<String, Failure> {
        guard method == "GET" else { return .failure(.badRequest("WebSocket upgrade must use GET")) }
        guard versionMinor >= 1 else { return .failure(.badRequest("WebSocket upgrade needs HTTP/1.1")) }
        guard header("upgrade").map({ HeaderList.contains($0, token: HeaderList.websocketToken) }) == true else {
            return .failure(.badRequest("missing Upgrade: websocket"))
        }
        guard header("connection").map({ HeaderList.contains($0, token: HeaderList.upgradeToken) }) == true else {
            return .failure(.badRequest("missing Connection: Upgrade"))
        }
        guard let version = header("sec-websocket-version") else { return .failure(.upgradeRequired) }
        guard version.trimmingSpacesAndTabs() == "13" else { return .failure(.upgradeRequired) }
        guard let key = header("sec-websocket-key")?.trimmingSpacesAndTabs(), !key.isEmpty else {
            return .failure(.badRequest("missing Sec-WebSocket-Key"))
        }
        guard let decoded = Base64.decode(key), decoded.count == 16 else {
            return .failure(.badRequest("Sec-WebSocket-Key must be base64 of 16 bytes"))
        }
        return .success(acceptValue(forKey: key))
    }

    /// `extensions`: the `Sec-WebSocket-Extensions` value agreed on, if any.
    public static func response(accept: String, extensions: String? = nil) -> [UInt8] {
        let extensionLine = extensions.map { "Sec-WebSocket-Extensions: \($0)\r\n" } ?? ""
        return Array("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: \(accept)\r\n\(extensionLine)\r\n".utf8)
    }
}

extension StringProtocol {
    func trimmingSpacesAndTabs() -> String {
        var s = Substring(self)
        while let f = s.first, f == " " || f == "\t" { s.removeFirst() }
        while let l = s.last, l == " " || l == "\t" { s.removeLast() }
        return String(s)
    }
}
