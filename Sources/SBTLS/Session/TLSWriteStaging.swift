/// One loop's buffer for gathering queued frames into a TLS record before `SSL_write`: one
/// record and one system call carry several small frames instead of one each. Shared by every
/// connection of the loop (writes on a loop never overlap).
public final class TLSWriteStaging {
    let buffer: UnsafeMutableRawBufferPointer

    public init() {
        buffer = .allocate(byteCount: TLSSession.maxRecordPlaintext, alignment: 16)
    }

    deinit {
        buffer.deallocate()
    }
}
