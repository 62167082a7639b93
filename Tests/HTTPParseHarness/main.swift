// sb-http-parse: the HTTP request parser as a filter, for the differential test against h11
// (Tests/python/http_differential.py). Each stdin line is one case, hex-encoded; each stdout line
// is a JSON verdict for the first request in those bytes, fed whole:
//   {"verdict":"accept","method":HEX,"target":HEX,"version":"1.1","headers":[[HEX,HEX],…],"body":HEX}
//   {"verdict":"reject","status":400,"message":"…"}      {"verdict":"incomplete"}
// Header names are lowercased; values are the parser's Strings as UTF-8. Default limits.
import SBHTTP

func hex(_ bytes: some Sequence<UInt8>) -> String {
    let digits = Array("0123456789abcdef".utf8)
    var out: [UInt8] = []
    for b in bytes { out.append(digits[Int(b >> 4)]); out.append(digits[Int(b & 15)]) }
    return "\"" + String(decoding: out, as: UTF8.self) + "\""
}

func unhex(_ line: String) -> [UInt8]? {
    var out: [UInt8] = []
    var high: UInt8?
    for c in line.utf8 {
        let v: UInt8
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): v = c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): v = c - UInt8(ascii: "a") + 10
        default: return nil
        }
        if let h = high { out.append(h << 4 | v); high = nil } else { high = v }
    }
    return high == nil ? out : nil
}

func jsonString(_ s: String) -> String {
    var out = "\""
    for u in s.unicodeScalars {
        switch u {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case _ where u.value < 0x20: out += "\\u00" + String(u.value, radix: 16).leftPadded(2)
        default: out.unicodeScalars.append(u)
        }
    }
    return out + "\""
}

extension String {
    func leftPadded(_ n: Int) -> String { String(repeating: "0", count: max(0, n - count)) + self }
}

func verdict(_ bytes: [UInt8]) -> String {
    var parser = HTTPRequestParser()
    parser.feed(bytes)
    while let event = parser.next() {
        switch event {
        case .head:
            continue
        case .request(let request):
            let head = request.head
            let headers = head.headers.fields.map { "[\(hex($0.name.utf8)),\(hex($0.value.utf8))]" }.joined(separator: ",")
            return "{\"verdict\":\"accept\",\"method\":\(hex(head.method.name.utf8)),\"target\":\(hex(head.target.utf8)),"
                + "\"version\":\"1.\(head.versionMinor)\",\"headers\":[\(headers)],\"body\":\(hex(request.body))}"
        case .error(let error):
            return "{\"verdict\":\"reject\",\"status\":\(error.status),\"message\":\(jsonString(error.message))}"
        }
    }
    return "{\"verdict\":\"incomplete\"}"
}

while let line = readLine(strippingNewline: true) {
    guard let bytes = unhex(line) else {
        print("{\"verdict\":\"bad-input\"}")
        continue
    }
    print(verdict(bytes))
}
