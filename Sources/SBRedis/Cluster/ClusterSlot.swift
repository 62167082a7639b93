/// Redis Cluster's key → slot function: CRC16 (XMODEM: polynomial 0x1021, initial 0) of the
/// key, or of its hash tag, modulo 16384. The hash tag is the text between the first `{` and
/// the first `}` after it, when that text is not empty: keys that share a tag share a slot,
/// which is how all keys of one session stay together (`afw:{id}:events`, `afw:{id}:seq`, …).
public enum ClusterSlot {
    public static let count = 16384

    public static func of(_ key: String) -> Int {
        var key = key
        return key.withUTF8 { of(bytes: $0) }
    }

    public static func of(bytes key: UnsafeBufferPointer<UInt8>) -> Int {
        var start = 0
        var end = key.count
        if let open = key.firstIndex(of: UInt8(ascii: "{")),
           let close = key[(open + 1)...].firstIndex(of: UInt8(ascii: "}")), close > open + 1 {
            start = open + 1
            end = close
        }
        var crc: UInt16 = 0
        for index in start..<end {
            crc = (crc << 8) ^ table[Int(UInt8(truncatingIfNeeded: crc >> 8) ^ key[index])]
        }
        return Int(crc) & (count - 1)
    }

    static let table: [UInt16] = (0..<256).map { byte in
        var crc = UInt16(byte) << 8
        for _ in 0..<8 { crc = crc & 0x8000 != 0 ? (crc << 1) ^ 0x1021 : crc << 1 }
        return crc
    }
}
