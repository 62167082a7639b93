public import SBCore
import Synchronization

/// One message for many recipients, framed once: the plain frame always, and the
/// permessage-deflate frame only when a recipient that negotiated the extension asks for it —
/// then made once and shared by all such recipients, on every loop. Plain fan-out never
/// compresses anything.
public final class BroadcastFrame: Sendable {
    public let plain: SharedFrame
    /// The compressed frame, or `plain` again when compressing did not make it smaller.
    private let deflated = AtomicLazyReference<SharedBytes>()

    public init(text payload: [UInt8]) {
        plain = FrameBuilder.textFrame(payload)
    }

    /// Read back from the frame's length byte (server frames carry no mask).
    private var headerSize: Int {
        let length7 = plain.bytes[1] & 0x7F
        return length7 < 126 ? 2 : length7 == 126 ? 4 : 10
    }

    public var payloadCount: Int { plain.count - headerSize }

    /// The frame for a recipient that negotiated permessage-deflate. The first caller
    /// compresses with its own loop's `deflater`; two loops asking at the same instant may both
    /// compress, and one result is kept (the bytes are the same).
    public func deflatedFrame(using deflater: MessageDeflater) -> SharedFrame {
        if let made = deflated.load() { return made }
        let headerSize = self.headerSize
        let frame = plain.bytes.withUnsafeBytes { raw in
            deflater.compressedFrame(opcode: .text, payload: UnsafeRawBufferPointer(rebasing: raw[headerSize...]))
        }
        return deflated.storeIfNil(frame.map(SharedBytes.init) ?? plain)
    }
}
