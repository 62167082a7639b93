/// An immutable byte array shared by reference.
///
/// A broadcast frame is encoded once and the same `SharedBytes` sits in every recipient's
/// send queue, on every loop: no per-client copy. Immutable after `init`, hence `Sendable`.
public final class SharedBytes: Sendable {
    public let bytes: [UInt8]

    public init(_ bytes: [UInt8]) {
        self.bytes = bytes
    }

    public var count: Int { bytes.count }
}
