internal import CZlib

/// One zlib inflate stream reading raw DEFLATE, reset after every input and bounded on output:
/// it inflates in chunks and stops as soon as the output passes the limit, so a small input
/// that would inflate to gigabytes (a decompression bomb) costs at most `limit` plus a chunk.
/// Not thread-safe: one per thread or loop.
public final class RawInflater {
    public enum Outcome: Equatable {
        case inflated([UInt8])
        /// The output would be larger than the limit; inflation stopped there.
        case overLimit
        /// Not valid DEFLATE data (or it refers to a window larger than 15 bits).
        case invalid
    }

    private let stream: UnsafeMutablePointer<z_stream>
    /// Each call to zlib writes at most this much before the limit is checked again.
    private var chunk: [UInt8]

    public init(windowBits: Int32 = 15, chunkBytes: Int = 16 * 1024) {
        stream = .allocate(capacity: 1)
        stream.initialize(to: z_stream())
        let status = CZlib_inflateInit2(stream, -windowBits)
        precondition(status == Z_OK, "inflateInit2 failed: \(status)")
        chunk = [UInt8](repeating: 0, count: chunkBytes)
    }

    deinit {
        inflateEnd(stream)
        stream.deinitialize(count: 1)
        stream.deallocate()
    }

    /// Inflates all of `input` (a raw DEFLATE segment that need not be final: it ends when the
    /// input does, or at a final block; anything after a final block is ignored), then resets.
    public func inflate(_ input: UnsafeRawBufferPointer, limit: Int) -> Outcome {
        defer {
            stream.pointee.next_in = nil
            stream.pointee.next_out = nil
            inflateReset(stream)
        }
        var output: [UInt8] = []
        stream.pointee.next_in = UnsafeMutablePointer(mutating: input.baseAddress?.assumingMemoryBound(to: Bytef.self))
        stream.pointee.avail_in = UInt32(input.count)
        let chunkBytes = chunk.count
        while true {
            let status = chunk.withUnsafeMutableBufferPointer { buffer -> Int32 in
                stream.pointee.next_out = buffer.baseAddress!
                stream.pointee.avail_out = UInt32(chunkBytes)
                return CZlib.inflate(stream, Z_SYNC_FLUSH)
            }
            let unused = Int(stream.pointee.avail_out)
            let produced = chunkBytes - unused
            guard output.count + produced <= limit else { return .overLimit }
            output.append(contentsOf: chunk[0..<produced])
            switch status {
            case Z_STREAM_END:
                return .inflated(output)
            case Z_OK, Z_BUF_ERROR:
                // Done when the input is used up and zlib had room left (nothing pending);
                // Z_BUF_ERROR with input left cannot happen while there is output room.
                if stream.pointee.avail_in == 0 && unused > 0 { return .inflated(output) }
                if status == Z_BUF_ERROR && unused > 0 { return .invalid }
            default:
                // Z_DATA_ERROR (corrupt, or a distance beyond the window), Z_NEED_DICT, Z_MEM_ERROR.
                return .invalid
            }
        }
    }

    public func inflate(_ input: [UInt8], limit: Int) -> Outcome {
        input.withUnsafeBytes { inflate($0, limit: limit) }
    }
}
