// libFuzzer entry for the HTTP request parser (built by Scripts/fuzz.sh, not by SwiftPM).
// The input is fed in two parts split at a point chosen by its first byte, so splits are
// fuzzed too; the parser must never crash, hang or return events past a fatal error.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzHTTPParser(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    let cut = bytes.isEmpty ? 0 : Int(bytes[0]) % (bytes.count + 1)
    var parser = HTTPRequestParser(limits: HTTPLimits(maxHeadBytes: 2048, maxHeaderCount: 20, maxBodyBytes: 4096, maxTargetBytes: 512))
    var failed = false
    for part in [bytes[..<cut], bytes[cut...]] {
        parser.feed(Array(part))
        var steps = 0
        while let event = parser.next() {
            steps += 1
            precondition(steps < 100_000, "parser does not make progress")
            if case .error = event {
                failed = true
                break
            }
            precondition(!failed, "event after a fatal error")
        }
    }
    return 0
}
