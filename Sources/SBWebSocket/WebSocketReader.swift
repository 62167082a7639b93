/// Incremental frame parser, message assembler and UTF-8 validator in one pure state machine.
/// Every limit is checked from the frame header, before its payload is buffered; text is
/// validated as payload bytes are unmasked, so invalid UTF-8 fails fast.
///
/// With permessage-deflate (`inflates`), a message whose first frame has RSV1 set is gathered
/// compressed and inflated whole when its last frame is in, by the caller's `inflate` (the
/// loop's `MessageInflater`), bounded by `maxMessageBytes` of inflated output; its text is
/// validated then. The reader itself knows no zlib and holds no inflate state: the server
/// agreed to `client_no_context_takeover`, so no message refers to an earlier one.
public struct WebSocketReader: Sendable {
    /// Laid out small (16 bytes): a reader lives in every WebSocket connection.
    struct Frame: Sendable {
        var remaining: Int
        /// 0 when the frame is not masked: XOR with 0 changes nothing.
        var mask: UInt32
        var maskOffset: UInt8 = 0
        var opcode: WebSocketOpcode
        var fin: Bool
    }

    // Stored properties widest first, so the reader packs into 56 bytes (idle memory).
    var buffer: [UInt8] = []
    var start = 0
    var message: [UInt8] = []
    let maxMessageBytes: Int
    /// The data frame whose payload is being read (payload streams straight into `message`).
    var frame: Frame?
    var utf8 = UTF8Validator()
    /// Opcode of the fragmented message in progress (text/binary), if any.
    var messageOpcode: WebSocketOpcode?
    let requireMask: Bool
    var finished = false
    /// permessage-deflate was negotiated: RSV1 marks a compressed message.
    let inflates: Bool
    /// The message being read is compressed (its first frame had RSV1).
    var messageCompressed = false

    public init(maxMessageBytes: Int, requireMask: Bool = true, inflates: Bool = false) {
        self.maxMessageBytes = maxMessageBytes
        self.requireMask = requireMask
        self.inflates = inflates
    }

    /// The most compressed bytes one message may take: deflate can grow incompressible data
    /// (by 5 bytes per stored block of up to 64 KiB), so a message whose inflated size is
    /// within the limit may be a little larger compressed.
    var maxCompressedMessageBytes: Int { maxMessageBytes + maxMessageBytes / 4096 + 64 }

    public var isIdle: Bool { start == buffer.count && frame == nil && messageOpcode == nil }

    public mutating func feed(_ bytes: UnsafeRawBufferPointer) {
        guard !finished else { return }
        if start == buffer.count {
            buffer.removeAll(keepingCapacity: true)
            start = 0
        }
        buffer.append(contentsOf: bytes)
    }

    public mutating func feed(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { feed($0) }
    }

    /// What inflating one compressed message gave.
    public enum InflateOutcome: Equatable, Sendable {
        case inflated([UInt8])
        /// Its inflated size passed the limit (inflation stopped there).
        case overLimit
        /// Not valid DEFLATE data.
        case invalid
    }

    /// Inflates a whole compressed message payload (as sent, without the §7.2.2 tail) to at
    /// most `limit` bytes.
    public typealias Inflate = (_ compressed: inout [UInt8], _ limit: Int) -> InflateOutcome

    /// For a reader without permessage-deflate.
    public mutating func next() -> WebSocketReadEvent? {
        next(inflate: { _, _ in preconditionFailure("a reader that inflates needs an inflate function") })
    }

    /// `inflate` is called only when a compressed message is complete.
    public mutating func next(inflate: Inflate) -> WebSocketReadEvent? {
        guard !finished else { return nil }
        while true {
            if frame != nil {
                if let event = readDataPayload(inflate) { return event }
                if frame != nil { return idle() }
                continue
            }
            guard let header = parseHeader() else { return idle() }
            switch header {
            case .failure(let code, let reason):
                return fail(code, reason)
            case .control(let opcode, let payload):
                return control(opcode, payload)
            case .dataFrameStarted:
                continue
            }
        }
    }

    /// Releases buffer storage when everything has been consumed (idle connections hold none).
    private mutating func idle() -> WebSocketReadEvent? {
        if start == buffer.count {
            buffer = []
            start = 0
        } else if start > 65536 {
            buffer.removeFirst(start)
            start = 0
        }
        return nil
    }

    private mutating func fail(_ code: UInt16, _ reason: String) -> WebSocketReadEvent {
        finished = true
        buffer = []
        message = []
        return .failure(code: code, reason: reason)
    }

    enum Header {
        case failure(UInt16, String)
        case control(WebSocketOpcode, [UInt8])
        case dataFrameStarted
    }

    private mutating func parseHeader() -> Header? {
        let available = buffer.count - start
        guard available >= 2 else { return nil }
        let b0 = buffer[start], b1 = buffer[start + 1]
        if b0 & 0x30 != 0 { return .failure(1002, "reserved bits set") }
        let rsv1 = b0 & 0x40 != 0
        if rsv1 && !inflates { return .failure(1002, "reserved bits set") }
        guard let opcode = WebSocketOpcode(rawValue: b0 & 0x0F) else { return .failure(1002, "unknown opcode") }
        // RFC 7692 §6: RSV1 marks the first frame of a compressed message, and nothing else.
        if rsv1 && opcode.isControl { return .failure(1002, "RSV1 set on a control frame") }
        if rsv1 && opcode == .continuation { return .failure(1002, "RSV1 set on a continuation frame") }
        let fin = b0 & 0x80 != 0
        let masked = b1 & 0x80 != 0
        if requireMask && !masked { return .failure(1002, "client frames must be masked") }
        let len7 = Int(b1 & 0x7F)
        if opcode.isControl {
            if !fin { return .failure(1002, "fragmented control frame") }
            if len7 > 125 { return .failure(1002, "control frame payload over 125 bytes") }
        } else if opcode == .continuation {
            if messageOpcode == nil { return .failure(1002, "continuation frame without a message") }
        } else if messageOpcode != nil {
            return .failure(1002, "new message before the previous one finished")
        }
        let extra = len7 == 126 ? 2 : len7 == 127 ? 8 : 0
        let headerLength = 2 + extra + (masked ? 4 : 0)
        guard available >= headerLength else { return nil }
        var length = len7
        if len7 == 126 {
            length = Int(buffer[start + 2]) << 8 | Int(buffer[start + 3])
        } else if len7 == 127 {
            if buffer[start + 2] & 0x80 != 0 { return .failure(1002, "64-bit length with the top bit set") }
            var value: UInt64 = 0
            for k in 0..<8 { value = value << 8 | UInt64(buffer[start + 2 + k]) }
            guard value <= UInt64(Int.max / 2) else { return .failure(1009, "message too big") }
            length = Int(value)
        }
        var mask: UInt32 = 0
        if masked {
            let m = start + 2 + extra
            mask = UInt32(buffer[m]) | UInt32(buffer[m + 1]) << 8 | UInt32(buffer[m + 2]) << 16 | UInt32(buffer[m + 3]) << 24
        }
        if opcode.isControl {
            guard available >= headerLength + length else { return nil }
            start += headerLength
            var payload = Array(buffer[start..<(start + length)])
            start += length
            if mask != 0 { Self.unmask(&payload, from: 0, mask: mask, offset: 0) }
            return .control(opcode, payload)
        }
        let compressed = opcode == .continuation ? messageCompressed : rsv1
        if message.count + length > (compressed ? maxCompressedMessageBytes : maxMessageBytes) {
            return .failure(1009, "message over \(maxMessageBytes) bytes")
        }
        start += headerLength
        if opcode != .continuation {
            messageOpcode = opcode
            messageCompressed = rsv1
            utf8 = UTF8Validator()
        }
        frame = Frame(remaining: length, mask: mask, opcode: opcode, fin: fin)
        return .dataFrameStarted
    }

    /// Moves available payload bytes of the current data frame into `message`, unmasking and
    /// validating them; emits the message when its final frame is complete.
    private mutating func readDataPayload(_ inflate: Inflate) -> WebSocketReadEvent? {
        guard var current = frame else { return nil }
        let take = min(current.remaining, buffer.count - start)
        if take > 0 {
            let from = message.count
            message.append(contentsOf: buffer[start..<(start + take)])
            start += take
            if current.mask != 0 {
                Self.unmask(&message, from: from, mask: current.mask, offset: Int(current.maskOffset))
                current.maskOffset = UInt8(truncatingIfNeeded: (Int(current.maskOffset) + take) & 3)
            }
            current.remaining -= take
            if messageOpcode == .text && !messageCompressed {
                let ok = message.withUnsafeBytes { utf8.validate(UnsafeRawBufferPointer(rebasing: $0[from...])) }
                if !ok { return fail(1007, "invalid UTF-8 in text message") }
            }
        }
        guard current.remaining == 0 else {
            frame = current
            return nil
        }
        frame = nil
        guard current.fin else { return nil }
        let opcode = messageOpcode
        messageOpcode = nil
        var payload = message
        message = []
        if messageCompressed {
            messageCompressed = false
            switch inflate(&payload, maxMessageBytes) {
            case .inflated(let inflated): payload = inflated
            case .overLimit: return fail(1009, "message over \(maxMessageBytes) bytes when inflated")
            case .invalid: return fail(1007, "compressed message is not valid DEFLATE data")
            }
            if opcode == .text, !utf8.validate(payload) { return fail(1007, "invalid UTF-8 in text message") }
        }
        if opcode == .text {
            guard utf8.isComplete else { return fail(1007, "text message ends inside a UTF-8 sequence") }
            return .text(payload)
        }
        return .binary(payload)
    }

    private mutating func control(_ opcode: WebSocketOpcode, _ payload: [UInt8]) -> WebSocketReadEvent {
        switch opcode {
        case .ping: return .ping(payload)
        case .pong: return .pong(payload)
        default:
            if payload.isEmpty {
                finished = true
                return .close(code: nil, reason: "")
            }
            if payload.count == 1 { return fail(1002, "close frame with a 1-byte payload") }
            let code = UInt16(payload[0]) << 8 | UInt16(payload[1])
            guard WebSocketCloseCode.isValidReceived(code) else { return fail(1002, "invalid close code \(code)") }
            guard let reason = String(validating: payload[2...], as: UTF8.self) else {
                return fail(1007, "close reason is not valid UTF-8")
            }
            finished = true
            return .close(code: code, reason: reason)
        }
    }

    /// XORs `bytes[from...]` with the 4-byte mask, starting `offset` bytes into the key;
    /// 8 bytes per step.
    static func unmask(_ bytes: inout [UInt8], from: Int, mask: UInt32, offset: Int) {
        let rotated = offset == 0 ? mask : (mask >> UInt32(offset * 8)) | (mask << UInt32((4 - offset) * 8))
        let wide = UInt64(rotated) | UInt64(rotated) << 32
        bytes.withUnsafeMutableBytes { raw in
            var i = from
            let count = raw.count
            while i + 8 <= count {
                let v = raw.loadUnaligned(fromByteOffset: i, as: UInt64.self) ^ wide
                raw.storeBytes(of: v, toByteOffset: i, as: UInt64.self)
                i += 8
            }
            var k = 0
            while i < count {
                raw[i] ^= UInt8(truncatingIfNeeded: rotated >> UInt32((k & 3) * 8))
                i += 1
                k += 1
            }
        }
    }
}
