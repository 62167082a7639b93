import DequeModule

extension WriteQueue {
    /// Writes as much as `write` takes right now, for a transport that takes one buffer per
    /// call (TLS: `SSL_write`, one record per call). Chunks smaller than `staging` are copied
    /// together into it first, so one record carries several queued frames; a head chunk at
    /// least that large is passed as it is.
    ///
    /// After `write` reports `.wouldBlock`, the next call starts with the same bytes and is at
    /// least as long (the queue only grows at its tail until bytes are consumed), which is
    /// what a TLS write retry requires.
    public mutating func flush(staging: UnsafeMutableRawBufferPointer,
                               through write: (UnsafeRawBufferPointer) throws(IOError) -> IOResult) -> FlushResult {
        while byteCount > 0 {
            let result: IOResult
            do {
                result = try writeOnce(staging: staging, through: write)
            } catch {
                return .failed
            }
            switch result {
            case .processed(let n): consume(n)
            case .wouldBlock:
                pendingAttempt = attemptLength(staging: staging)
                return .pending
            case .eof: return .failed
            }
        }
        if peakChunks > 16 || releasesWhenDrained {
            chunks = .init()
            peakChunks = 0
        }
        return .drained
    }

    /// How many bytes `writeOnce` passes now (what a retry must cover).
    private func attemptLength(staging: UnsafeMutableRawBufferPointer) -> Int {
        guard let head = chunks.first else { return 0 }
        if chunks.count == 1 || head.count - headOffset >= staging.count { return head.count - headOffset }
        return min(byteCount, staging.count)
    }

    private func writeOnce(staging: UnsafeMutableRawBufferPointer,
                           through write: (UnsafeRawBufferPointer) throws(IOError) -> IOResult) throws(IOError) -> IOResult {
        guard let head = chunks.first else { return .processed(0) }
        let skip = headOffset
        if chunks.count == 1 || head.count - skip >= staging.count {
            let result = head.withUnsafeBytes { raw in
                Result { () throws(IOError) in try write(UnsafeRawBufferPointer(rebasing: raw[skip...])) }
            }
            return try result.get()
        }
        var filled = 0
        var offset = skip
        for chunk in chunks {
            guard filled < staging.count else { break }
            chunk.withUnsafeBytes { raw in
                let n = min(raw.count - offset, staging.count - filled)
                staging.baseAddress!.advanced(by: filled).copyMemory(from: raw.baseAddress! + offset, byteCount: n)
                filled += n
            }
            offset = 0
        }
        return try write(UnsafeRawBufferPointer(rebasing: staging[..<filled]))
    }
}
