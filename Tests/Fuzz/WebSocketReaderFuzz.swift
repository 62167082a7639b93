// libFuzzer entry for the WebSocket frame reader (built by Scripts/fuzz.sh, not by SwiftPM).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzWebSocketReader(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    let cut = bytes.isEmpty ? 0 : Int(bytes[0]) % (bytes.count + 1)
    // Bit 1 of the first byte: permessage-deflate agreed (RSV1 marks compressed messages).
    var reader = WebSocketReader(maxMessageBytes: 4096, requireMask: bytes.first.map { $0 & 1 == 0 } ?? true,
                                 inflates: bytes.first.map { $0 & 2 != 0 } ?? false)
    // A stand-in for zlib (the reader's logic is what is fuzzed here): "compressed" bytes
    // inflate to themselves twice, so the inflated limit is reachable; a leading 0xFF is invalid.
    let inflate: WebSocketReader.Inflate = { compressed, limit in
        if compressed.first == 0xFF { return .invalid }
        let inflated = compressed + compressed
        return inflated.count > limit ? .overLimit : .inflated(inflated)
    }
    var total = 0
    for part in [bytes[..<cut], bytes[cut...]] {
        reader.feed(Array(part))
        var steps = 0
        while let event = reader.next(inflate: inflate) {
            steps += 1
            precondition(steps < 100_000, "reader does not make progress")
            switch event {
            case .text(let payload):
                precondition(String(validating: payload, as: UTF8.self) != nil, "text message that is not UTF-8")
                total += payload.count
            case .binary(let payload):
                total += payload.count
            case .ping(let payload), .pong(let payload):
                precondition(payload.count <= 125, "control frame over 125 bytes")
            default:
                break
            }
            precondition(total <= 2 * 4096 + size, "message larger than allowed")
        }
    }
    return 0
}
