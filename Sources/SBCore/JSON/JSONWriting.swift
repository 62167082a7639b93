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
        out.append(UInt8(ascii: "\""))
        for byte in string.utf8 {
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
