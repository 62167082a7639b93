public import DequeModule
public import SBCore
#if canImport(Glibc)
import Glibc
#endif

/// Bytes waiting to be written to one socket. Broadcast frames are queued as `SharedBytes`
/// (a reference, not a copy); everything is written with one `writev` per flush.
public struct WriteQueue {
    public enum Chunk {
        case owned([UInt8])
        case shared(SharedBytes)

        var count: Int {
            switch self {
            case .owned(let bytes): bytes.count
            case .shared(let shared): shared.count
            }
        }

        func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) -> R) -> R {
            switch self {
            case .owned(let bytes): bytes.withUnsafeBytes(body)
            case .shared(let shared): shared.bytes.withUnsafeBytes(body)
            }
        }
    }

    public enum FlushResult: Equatable {
        case drained
        case pending
        case failed
    }

    var chunks = Deque<Chunk>()
    /// A written chunk's storage, emptied, for the next response to be encoded into
    /// (`takeBuffer`): a keep-alive connection does not allocate one per response. Declared
    /// before the narrow fields below so that it adds 8 bytes, not 8 plus padding, to every
    /// `Connection` (its 240-byte allocation has none to spare).
    var spare: [UInt8] = []
    public private(set) var byteCount = 0
    /// Bytes of the first chunk already written. Stored in 32 bits, as `pendingAttempt`: a
    /// chunk is one response or frame, far below 2 GiB, and the 8 bytes saved keep every
    /// `Connection` in a smaller malloc size class (idle memory per connection).
    var headOffset: Int {
        get { Int(storedHeadOffset) }
        set { storedHeadOffset = Int32(newValue) }
    }
    private var storedHeadOffset: Int32 = 0
    /// Bytes from `headOffset` that the last write through `flush(staging:through:)` was
    /// refused (would block): a TLS write must be retried with at least those bytes.
    var pendingAttempt: Int {
        get { Int(storedPendingAttempt) }
        set { storedPendingAttempt = Int32(newValue) }
    }
    private var storedPendingAttempt: Int32 = 0
    var peakChunks: Int32 = 0
    /// Set for connections that are mostly idle between writes (WebSockets): their ring is
    /// released at every drain, so an idle connection holds no queue storage. A malloc per
    /// flush is noise next to the system call; HTTP keeps its ring for the next response.
    public var releasesWhenDrained = false

    public init() {}

    /// An empty buffer to write the next chunk into: the last written one's storage when
    /// there is one.
    public mutating func takeBuffer() -> [UInt8] {
        var taken: [UInt8] = []
        swap(&taken, &spare)
        // Emptied here, not when it was kept: there the chunk it came out of was still alive
        // and the array not yet unique, so emptying it made a copy.
        taken.removeAll(keepingCapacity: true)
        return taken
    }

    /// Keeps a written chunk's storage for `takeBuffer`: only a small one, only when it is
    /// no longer shared, and not on connections that release their queue when drained.
    private mutating func keepSpare(_ chunk: consuming Chunk) {
        guard !releasesWhenDrained, spare.capacity == 0, case .owned(let bytes) = consume chunk,
              bytes.capacity <= 4096 else { return }
        spare = bytes
    }

    public var isEmpty: Bool { byteCount == 0 }

    public mutating func append(_ bytes: [UInt8]) {
        guard !bytes.isEmpty else { return }
        byteCount += bytes.count
        chunks.append(.owned(bytes))
        peakChunks = max(peakChunks, Int32(truncatingIfNeeded: chunks.count))
    }

    public mutating func append(_ shared: SharedBytes) {
        guard shared.count > 0 else { return }
        byteCount += shared.count
        chunks.append(.shared(shared))
        peakChunks = max(peakChunks, Int32(truncatingIfNeeded: chunks.count))
    }

    public mutating func removeAll() {
        chunks = Deque()
        headOffset = 0
        byteCount = 0
        pendingAttempt = 0
    }

    /// Drops every chunk not begun yet, keeping the one partly written (each chunk is one
    /// WebSocket frame: what follows must start on a frame boundary) and those a refused TLS
    /// write must retry. The bytes still to write then end at a chunk boundary.
    public mutating func dropUnstarted() {
        var kept = 0
        var remaining = 0
        for chunk in chunks {
            let started = kept == 0 && headOffset > 0
            guard started || remaining < pendingAttempt else { break }
            remaining += chunk.count - (kept == 0 ? headOffset : 0)
            kept += 1
        }
        chunks.removeLast(chunks.count - kept)
        byteCount = remaining
        if kept == 0 { headOffset = 0 }
    }

    private static let maxIOVecs = 64

    /// Writes as much as the socket takes right now.
    public mutating func flush(fd: Int32) -> FlushResult {
        while byteCount > 0 {
            let written: Int
            do {
                switch try writeOnce(fd: fd) {
                case .processed(let n): written = n
                case .wouldBlock: return .pending
                case .eof: return .failed
                }
            } catch {
                return .failed
            }
            consume(written)
        }
        // Keep a small ring for the next response; one that grew large is released.
        if peakChunks > 16 || releasesWhenDrained {
            chunks = Deque()
            peakChunks = 0
            spare = []
        }
        return .drained
    }

    mutating func consume(_ count: Int) {
        pendingAttempt = 0
        var remaining = count
        byteCount -= count
        while remaining > 0, let first = chunks.first {
            let available = first.count - headOffset
            if remaining >= available {
                remaining -= available
                keepSpare(chunks.removeFirst())
                headOffset = 0
            } else {
                headOffset += remaining
                remaining = 0
            }
        }
    }

    private func writeOnce(fd: Int32) throws(IOError) -> IOResult {
        if chunks.count == 1, let only = chunks.first {
            // One buffer: `send`, cheaper in the kernel than a one-element `writev`.
            let skip = headOffset
            let result = only.withUnsafeBytes { raw in
                Result { () throws(IOError) in try Posix.send(fd: fd, UnsafeRawBufferPointer(rebasing: raw[skip...])) }
            }
            return try result.get()
        }
        let n = min(chunks.count, WriteQueue.maxIOVecs)
        return try withUnsafeTemporaryAllocation(of: iovec.self, capacity: n) { iov throws(IOError) -> IOResult in
            // The arrays stay alive in `chunks` for the whole call; their storage does not move.
            var i = 0
            for chunk in chunks.prefix(n) {
                let skip = i == 0 ? headOffset : 0
                chunk.withUnsafeBytes { raw in
                    iov[i] = iovec(iov_base: UnsafeMutableRawPointer(mutating: raw.baseAddress! + skip), iov_len: raw.count - skip)
                }
                i += 1
            }
            return try Posix.writev(fd: fd, iov.baseAddress!, count: Int32(n))
        }
    }
}
