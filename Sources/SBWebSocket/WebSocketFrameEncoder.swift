/// Server frames: never masked (RFC 6455 §5.1).
public enum WebSocketFrameEncoder {
    public static func headerSize(payloadLength: Int) -> Int {
        payloadLength < 126 ? 2 : payloadLength < 65536 ? 4 : 10
    }

    /// `compressed` sets RSV1: the first frame of a permessage-deflate message (RFC 7692 §6).
    public static func writeHeader(opcode: WebSocketOpcode, payloadLength: Int, fin: Bool = true, compressed: Bool = false,
                                   into out: inout [UInt8]) {
        out.append((fin ? 0x80 : 0) | (compressed ? 0x40 : 0) | opcode.rawValue)
        if payloadLength < 126 {
            out.append(UInt8(payloadLength))
        } else if payloadLength < 65536 {
            out.append(126)
            out.append(UInt8(payloadLength >> 8))
            out.append(UInt8(payloadLength & 0xFF))
        } else {
            out.append(127)
            for shift in stride(from: 56, through: 0, by: -8) {
                out.append(UInt8((UInt64(payloadLength) >> UInt64(shift)) & 0xFF))
            }
        }
    }

    public static func encode(opcode: WebSocketOpcode, payload: UnsafeRawBufferPointer, fin: Bool = true, into out: inout [UInt8]) {
        out.reserveCapacity(out.count + headerSize(payloadLength: payload.count) + payload.count)
        writeHeader(opcode: opcode, payloadLength: payload.count, fin: fin, into: &out)
        out.append(contentsOf: payload)
    }

    public static func encode(opcode: WebSocketOpcode, payload: [UInt8], fin: Bool = true) -> [UInt8] {
        var out: [UInt8] = []
        payload.withUnsafeBytes { encode(opcode: opcode, payload: $0, fin: fin, into: &out) }
        return out
    }

    /// A close frame; the reason is cut on a UTF-8 boundary so the payload stays ≤ 125 bytes.
    public static func closeFrame(code: UInt16, reason: String) -> [UInt8] {
        var payload: [UInt8] = [UInt8(code >> 8), UInt8(code & 0xFF)]
        var reasonBytes = Array(reason.utf8.prefix(123))
        while !reasonBytes.isEmpty, String(validating: reasonBytes, as: UTF8.self) == nil { reasonBytes.removeLast() }
        payload += reasonBytes
        return encode(opcode: .close, payload: payload)
    }
}
