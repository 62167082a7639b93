public import Foundation
public import SBWebSocket

/// A client-side WebSocket over `TestSocket`: masked frames out, server frames parsed with the
/// product's own reader in client mode (no mask required).
public final class TestWebSocketClient {
    public let socket: TestSocket
    private var reader = WebSocketReader(maxMessageBytes: 64 << 20, requireMask: false)
    public private(set) var handshakeResponse = ""

    public init(port: Int, path: String = "/ws", headers: [(String, String)] = [], timeoutSeconds: Int = 10) throws {
        socket = try TestSocket(port: port, timeoutSeconds: timeoutSeconds)
        var request = "GET \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        request += "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
        for (name, value) in headers { request += "\(name): \(value)\r\n" }
        request += "\r\n"
        try socket.send(request)
        var received: [UInt8] = []
        while true {
            let chunk = try socket.receive()
            if chunk.isEmpty { throw TestError("closed during handshake: \(String(decoding: received, as: UTF8.self))") }
            received += chunk
            if let end = received.firstRange(of: [13, 10, 13, 10]) {
                handshakeResponse = String(decoding: received[..<end.lowerBound], as: UTF8.self)
                guard handshakeResponse.hasPrefix("HTTP/1.1 101") else {
                    throw TestError("upgrade refused: \(handshakeResponse)")
                }
                let rest = Array(received[end.upperBound...])
                if !rest.isEmpty { reader.feed(rest) }
                return
            }
        }
    }

    public static func maskedFrame(opcode: UInt8, payload: [UInt8], fin: Bool = true, mask: [UInt8] = [0x12, 0x34, 0x56, 0x78]) -> [UInt8] {
        var out: [UInt8] = [(fin ? 0x80 : 0) | opcode]
        if payload.count < 126 {
            out.append(0x80 | UInt8(payload.count))
        } else if payload.count < 65536 {
            out.append(0x80 | 126)
            out += [UInt8(payload.count >> 8), UInt8(payload.count & 0xFF)]
        } else {
            out.append(0x80 | 127)
            for shift in stride(from: 56, through: 0, by: -8) { out.append(UInt8((payload.count >> shift) & 0xFF)) }
        }
        out += mask
        for (i, byte) in payload.enumerated() { out.append(byte ^ mask[i % 4]) }
        return out
    }

    public func sendText(_ text: String) throws {
        try socket.send(Self.maskedFrame(opcode: 1, payload: Array(text.utf8)))
    }

    public func sendJSON(_ object: [String: Any]) throws {
        try socket.send(Self.maskedFrame(opcode: 1, payload: Array(try JSONSerialization.data(withJSONObject: object))))
    }

    public func sendClose(code: UInt16 = 1000) throws {
        try socket.send(Self.maskedFrame(opcode: 8, payload: [UInt8(code >> 8), UInt8(code & 0xFF)]))
    }

    /// The next event from the server (text, binary, ping, close…). Throws on timeout or EOF.
    public func next() throws -> WebSocketReadEvent {
        while true {
            if let event = reader.next() { return event }
            let chunk = try socket.receive()
            if chunk.isEmpty { throw TestError("connection closed by server") }
            reader.feed(chunk)
        }
    }

    /// The next text message parsed as a JSON object, skipping pings.
    public func nextJSON() throws -> [String: Any] {
        while true {
            switch try next() {
            case .text(let bytes):
                guard let object = try JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any] else {
                    throw TestError("not a JSON object: \(String(decoding: bytes, as: UTF8.self))")
                }
                return object
            case .ping, .pong:
                continue
            case let other:
                throw TestError("expected a text message, got \(other)")
            }
        }
    }

    /// Next message whose `type` is `type`, skipping others.
    public func next(type: String) throws -> [String: Any] {
        while true {
            let message = try nextJSON()
            if message["type"] as? String == type { return message }
        }
    }

    public func close() { socket.close() }
}
