// libFuzzer entry for the HTTP request parser (built by Scripts/fuzz.sh, not by SwiftPM).
// The input is fed whole and in two parts split at a point chosen by its first byte: the parser
// must never crash, hang or return events past a fatal error, and both feedings must give the
// same events (split invariance).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzHTTPParser(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    let cut = bytes.isEmpty ? 0 : Int(bytes[0]) % (bytes.count + 1)
    let whole = events([bytes[...]])
    precondition(events([bytes[..<cut], bytes[cut...]]) == whole, "split at \(cut) changes the events")
    return 0
}

private func events(_ parts: [ArraySlice<UInt8>]) -> [String] {
    var parser = HTTPRequestParser(limits: HTTPLimits(maxHeadBytes: 2048, maxHeaderCount: 20, maxBodyBytes: 4096, maxTargetBytes: 512))
    var seen: [String] = []
    for part in parts {
        parser.feed(Array(part))
        var steps = 0
        while let event = parser.next() {
            steps += 1
            precondition(steps < 100_000, "parser does not make progress")
            switch event {
            case .head(let head):
                seen.append("head \(head.method.name) \(head.target) \(head.headers.count)")
            case .request(let request):
                seen.append("request \(request.body.count) \(request.body.reduce(0) { $0 &* 31 &+ Int($1) })")
            case .error(let error):
                seen.append("error \(error.status)")
                return seen  // fatal: nothing may follow, so the caller stops feeding
            }
        }
    }
    return seen
}
