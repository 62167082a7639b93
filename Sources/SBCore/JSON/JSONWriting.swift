/// Byte-level JSON writers for what the server writes by hand (errors, events, replies).

/// `{"error":"…"}` with the message JSON-escaped.
public enum JSONErrorBody {
    public static func make(_ message: String) -> [UInt8] {
        var out = Array("{\"error\":".utf8)
        JSONString.append(message, to: &out)
        out.append(UInt8(ascii: "}"))
        return out
    }
}

/// Minimal JSON string escaping for the bytes we write by hand.
public enum JSONString {
    public static func append(_ string: String, to out: inout [UInt8]) {
        var string = string
        string.withUTF8 { append(utf8: $0, to: &out) }
    }

    public static func append(utf8 bytes: UnsafeBufferPointer<UInt8>, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        // Ids, types and session names never need escaping: one copy, no per-byte switch.
        var plain = true
        for byte in bytes where byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") {
            plain = false
            break
        }
        if plain {
            out.append(contentsOf: bytes)
            out.append(UInt8(ascii: "\""))
            return
        }
        for byte in bytes {
            switch byte {
            case UInt8(ascii: "\""): out.append(contentsOf: [0x5C, 0x22])
            case UInt8(ascii: "\\"): out.append(contentsOf: [0x5C, 0x5C])
            case 0x0A: out.append(contentsOf: [0x5C, UInt8(ascii: "n")])
            case 0x0D: out.append(contentsOf: [0x5C, UInt8(ascii: "r")])
            case 0x09: out.append(contentsOf: [0x5C, UInt8(ascii: "t")])
            case 0..<0x20:
                let hex = Array("0123456789abcdef".utf8)
                out.append(contentsOf: [0x5C, UInt8(ascii: "u"), 0x30, 0x30, hex[Int(byte >> 4)], hex[Int(byte & 0xF)]])
            default: out.append(byte)
            }
        }
        out.append(UInt8(ascii: "\""))
    }
}

/// Numbers and booleans as JSON bytes, without building a `String` (string interpolation costs
/// thousands of instructions per response).
public enum JSONNumber {
    public static func append(_ value: Int, to out: inout [UInt8]) {
        if value < 0 {
            out.append(UInt8(ascii: "-"))
            // The magnitude of Int.min does not fit an Int.
            appendDigits(UInt(bitPattern: 0 &- value), to: &out)
        } else {
            appendDigits(UInt(value), to: &out)
        }
    }

    public static func append(_ value: Int64, to out: inout [UInt8]) {
        append(Int(value), to: &out)
    }

    public static func append(_ value: UInt64, to out: inout [UInt8]) {
        appendDigits(UInt(value), to: &out)
    }

    public static func append(_ value: Bool, to out: inout [UInt8]) {
        out.append(contentsOf: value ? trueBytes : falseBytes)
    }

    private static let trueBytes: [UInt8] = Array("true".utf8)
    private static let falseBytes: [UInt8] = Array("false".utf8)

    private static func appendDigits(_ value: UInt, to out: inout [UInt8]) {
        var digits: (UInt64, UInt64, UInt64) = (0, 0, 0)  // 24 bytes: UInt.max has 20 digits
        var count = 0
        var rest = value
        withUnsafeMutableBytes(of: &digits) { buffer in
            repeat {
                buffer[23 - count] = UInt8(truncatingIfNeeded: rest % 10) &+ 0x30
                rest /= 10
                count += 1
            } while rest > 0
            out.append(contentsOf: UnsafeRawBufferPointer(rebasing: buffer[(24 - count)...]))
        }
    }
}

/// A JSON object written member by member, in order, straight into bytes: the hub's own
/// messages (confirmations, pongs, errors) without a `[String: Any]` tree, boxing or Foundation.
/// Member names are literals the caller writes (plain ASCII, nothing to escape).
public struct JSONObjectWriter {
    private var bytes: [UInt8]
    private var empty = true

    public init(capacity: Int = 128) {
        bytes = []
        bytes.reserveCapacity(capacity)
        bytes.append(UInt8(ascii: "{"))
    }

    private init(continuing bytes: consuming [UInt8]) {
        self.bytes = bytes
        self.bytes.append(UInt8(ascii: "{"))
    }

    private mutating func name(_ name: StaticString) {
        if !empty { bytes.append(UInt8(ascii: ",")) }
        empty = false
        bytes.append(UInt8(ascii: "\""))
        name.withUTF8Buffer { bytes.append(contentsOf: $0) }
        bytes.append(UInt8(ascii: "\""))
        bytes.append(UInt8(ascii: ":"))
    }

    public mutating func string(_ name: StaticString, _ value: String) {
        self.name(name)
        JSONString.append(value, to: &bytes)
    }

    public mutating func integer(_ name: StaticString, _ value: Int64) {
        self.name(name)
        JSONNumber.append(value, to: &bytes)
    }

    public mutating func bool(_ name: StaticString, _ value: Bool) {
        self.name(name)
        JSONNumber.append(value, to: &bytes)
    }

    /// A value that is already JSON (an object or array another owner wrote), spliced in as is.
    public mutating func json(_ name: StaticString, _ value: [UInt8]) {
        self.name(name)
        bytes.append(contentsOf: value)
    }

    /// A nested object, written in place.
    public mutating func object(_ name: StaticString, _ body: (inout JSONObjectWriter) -> Void) {
        self.name(name)
        // One buffer, moved to the inner writer while it writes (taken out first, so the inner
        // writer's first append finds it uniquely referenced and does not copy it).
        var taken: [UInt8] = []
        swap(&taken, &bytes)
        var inner = JSONObjectWriter(continuing: consume taken)
        body(&inner)
        bytes = inner.finish()
    }

    /// The object's bytes, closed.
    public consuming func finish() -> [UInt8] {
        bytes.append(UInt8(ascii: "}"))
        return bytes
    }

    /// A whole object in one expression.
    public static func make(capacity: Int = 128, _ body: (inout JSONObjectWriter) -> Void) -> [UInt8] {
        var writer = JSONObjectWriter(capacity: capacity)
        body(&writer)
        return writer.finish()
    }
}
