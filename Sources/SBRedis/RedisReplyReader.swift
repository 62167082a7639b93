import CHiredis

/// hiredis's RESP reply reader (`redisReader`), fed with the bytes a connection reads: the one
/// part of hiredis the event-loop connections still use. One per socket, freed with it.
final class RedisReplyReader {
    private let reader: UnsafeMutablePointer<redisReader>

    init() {
        guard let reader = redisReaderCreate() else { fatalError("hiredis could not allocate a reply reader") }
        self.reader = reader
    }

    deinit { redisReaderFree(reader) }

    /// Appends bytes read from the socket. False when the reader is already in error.
    func feed(_ bytes: UnsafeRawBufferPointer) -> Bool {
        guard let base = bytes.baseAddress, !bytes.isEmpty else { return true }
        return redisReaderFeed(reader, base.assumingMemoryBound(to: CChar.self), bytes.count) == REDIS_OK
    }

    enum Next {
        case reply(RedisReply)
        /// The bytes so far hold no complete reply.
        case needMore
        /// Not RESP (hiredis's message): the stream cannot be read any further.
        case failed(String)
    }

    /// The next complete reply, copied out of hiredis's object (which is freed here).
    func next() -> Next {
        var raw: UnsafeMutableRawPointer?
        guard redisReaderGetReply(reader, &raw) == REDIS_OK else {
            let message = withUnsafeBytes(of: reader.pointee.errstr) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            return .failed(message)
        }
        guard let raw else { return .needMore }
        defer { freeReplyObject(raw) }
        return .reply(RedisReply(copying: UnsafePointer(raw.assumingMemoryBound(to: redisReply.self))))
    }
}
