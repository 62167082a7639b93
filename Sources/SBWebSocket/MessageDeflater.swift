internal import SBCompression

/// Compresses outgoing messages for permessage-deflate, one message at a time and each on its
/// own (no context takeover). One per loop: confined to it, reused for every message.
public final class MessageDeflater {
    private let deflater = RawDeflater(windowBits: Int32(PerMessageDeflate.deflaterWindowBits))

    public init() {}

    /// One complete frame (FIN and RSV1 set) carrying `payload` compressed, or nil when
    /// compressing does not make the payload smaller (then send it plain: RFC 7692 §6 lets
    /// each message choose).
    public func compressedFrame(opcode: WebSocketOpcode, payload: UnsafeRawBufferPointer) -> [UInt8]? {
        var compressed = deflater.compressWithSyncFlush(payload)
        // §7.2.1: the sync flush ends with an empty stored block; its LEN/NLEN go.
        assert(compressed.suffix(4).elementsEqual(PerMessageDeflate.tail))
        compressed.removeLast(4)
        guard compressed.count < payload.count else { return nil }
        var frame: [UInt8] = []
        frame.reserveCapacity(WebSocketFrameEncoder.headerSize(payloadLength: compressed.count) + compressed.count)
        WebSocketFrameEncoder.writeHeader(opcode: opcode, payloadLength: compressed.count, compressed: true, into: &frame)
        frame.append(contentsOf: compressed)
        return frame
    }

    public func compressedFrame(opcode: WebSocketOpcode, payload: [UInt8]) -> [UInt8]? {
        payload.withUnsafeBytes { compressedFrame(opcode: opcode, payload: $0) }
    }
}

/// Inflates incoming permessage-deflate messages, bounded by the message limit. One per loop:
/// a message is inflated whole once its last frame is in, so no inflate stream lives in a
/// connection between reads (idle memory per connection).
public final class MessageInflater {
    private let inflater = RawInflater()

    public init() {}

    /// `compressed` is the message's payload as sent; it gets the §7.2.2 tail appended.
    /// `WebSocketReader.next(inflate:)` takes this.
    public func inflate(_ compressed: inout [UInt8], limit: Int) -> WebSocketReader.InflateOutcome {
        compressed.append(contentsOf: PerMessageDeflate.tail)
        switch inflater.inflate(compressed, limit: limit) {
        case .inflated(let bytes): return .inflated(bytes)
        case .overLimit: return .overLimit
        case .invalid: return .invalid
        }
    }
}
