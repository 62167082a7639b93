internal import CZlib

/// One zlib deflate stream writing raw DEFLATE (no zlib or gzip wrapper), reset after every
/// input: each `compress` is a self-contained segment that refers to nothing before it (what
/// permessage-deflate calls "no context takeover"). Not thread-safe: one per thread or loop,
/// reused for every message it compresses (its ~270 KB of zlib state is made once).
public final class RawDeflater {
    /// zlib keeps a pointer back to the stream, so the stream must not move: heap-allocated.
    private let stream: UnsafeMutablePointer<z_stream>

    /// `level` 0-9 (zlib's default is 6), `windowBits` 9-15 (zlib silently turns 8 into 9 for raw
    /// streams), `memLevel` 1-9.
    public init(level: Int32 = 6, windowBits: Int32 = 15, memLevel: Int32 = 8) {
        stream = .allocate(capacity: 1)
        stream.initialize(to: z_stream())
        let status = CZlib_deflateInit2(stream, level, -windowBits, memLevel)
        precondition(status == Z_OK, "deflateInit2 failed: \(status)")
    }

    deinit {
        deflateEnd(stream)
        stream.deinitialize(count: 1)
        stream.deallocate()
    }

    /// Compresses all of `input` and ends with a sync flush, so the result ends with the empty
    /// stored block `00 00 FF FF` and holds every byte of `input`; then resets the stream.
    public func compressWithSyncFlush(_ input: UnsafeRawBufferPointer) -> [UInt8] {
        defer {
            stream.pointee.next_in = nil
            stream.pointee.next_out = nil
            deflateReset(stream)
        }
        // deflateBound covers a Z_FINISH stream; a sync flush's empty stored block (≤ 5 bytes
        // with the bits of a partial byte) fits in the margin. A larger output still works: the
        // loop below grows the array.
        var step = Int(deflateBound(stream, UInt(input.count))) + 16
        var output: [UInt8] = []
        output.reserveCapacity(step)
        stream.pointee.next_in = UnsafeMutablePointer(mutating: input.baseAddress?.assumingMemoryBound(to: Bytef.self))
        stream.pointee.avail_in = UInt32(input.count)
        while true {
            let filled = output.count
            output.append(contentsOf: repeatElement(0, count: step))
            let status = output.withUnsafeMutableBufferPointer { buffer -> Int32 in
                stream.pointee.next_out = buffer.baseAddress! + filled
                stream.pointee.avail_out = UInt32(step)
                return deflate(stream, Z_SYNC_FLUSH)
            }
            // Z_BUF_ERROR: nothing left to do (no input and no pending output); not an error.
            precondition(status == Z_OK || status == Z_BUF_ERROR, "deflate failed: \(status)")
            let unused = Int(stream.pointee.avail_out)
            output.removeLast(unused)
            // Output space left over means zlib had nothing more to write.
            if unused > 0 { return output }
            step = 4096
        }
    }

    public func compressWithSyncFlush(_ input: [UInt8]) -> [UInt8] {
        input.withUnsafeBytes { compressWithSyncFlush($0) }
    }
}
