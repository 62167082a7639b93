public import SBCore

/// A complete unmasked WebSocket text frame, encoded once per published message and shared by
/// every recipient's send queue on every loop.
public typealias SharedFrame = SharedBytes

public enum FrameBuilder {
    /// Frames `payload` as one text message.
    public static func textFrame(_ payload: [UInt8]) -> SharedFrame {
        var out: [UInt8] = []
        out.reserveCapacity(payload.count + 10)
        WebSocketFrameEncoder.writeHeader(opcode: .text, payloadLength: payload.count, fin: true, into: &out)
        out.append(contentsOf: payload)
        return SharedBytes(out)
    }
}
