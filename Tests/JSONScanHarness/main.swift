// sb-json-scan: the JSON scanner, and Foundation's JSONSerialization beside it, as a filter for
// the differential test against Python's json (Tests/python/json_differential.py). Each stdin
// line is one document, hex-encoded; each stdout line is a JSON verdict:
//   {"ours":"reject","reason":"syntax","offset":N,"foundation":"accept"|"reject","explained":BOOL}
//   {"ours":"accept","foundation":…,"agree":BOOL,"why":"…","root":KIND,"count":N,
//    "elements":[[KIND,START,END],…],"objects":[{"repeated":NAME|null,"members":{NAME:[KIND,VALUE]}},…]}
// `objects` holds the root object, or each object element of a top-level array (up to 1,000
// elements), in order. VALUE is the decoded string for strings, the binary64 value for numbers
// (as text, `repr`-comparable), and the value's bytes (as text) for the other kinds.
// Keys are JSONDocumentGenerator.names. `explained`: JSONDifferences explains Foundation's
// accepting what we refuse; `agree`/`why`: JSONFoundationComparison when both accept.
import Foundation
import SBCore
import SBTestSupport

func unhex(_ line: Substring) -> [UInt8]? {
    var out: [UInt8] = []
    out.reserveCapacity(line.utf8.count / 2)
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

func quoted(_ s: String) -> String {
    var out = "\""
    for u in s.unicodeScalars {
        switch u {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case _ where u.value < 0x20:
            let hex = String(u.value, radix: 16)
            out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
        default: out.unicodeScalars.append(u)
        }
    }
    return out + "\""
}

let keys = JSONFoundationComparison.keys

func verdict(_ bytes: [UInt8]) -> String {
    let foundationAccepts = (try? JSONSerialization.jsonObject(with: Data(bytes), options: [.fragmentsAllowed])) != nil
    let foundation = foundationAccepts ? "\"accept\"" : "\"reject\""
    switch JSONScanner.scan(bytes, keys: keys, maxElements: 1000) {
    case .failure(let error):
        return "{\"ours\":\"reject\",\"reason\":\"\(error.reason)\",\"offset\":\(error.offset),\"foundation\":\(foundation),"
            + "\"explained\":\(foundationAccepts && JSONDifferences.explains(bytes, error))}"
    case .success(let document):
        var why = ""
        if foundationAccepts, case .disagree(let reason) = JSONFoundationComparison.compare(bytes, maxElements: 1000) { why = reason }
        let elements = document.elements.map { "[\"\($0.kind)\",\($0.range.lowerBound),\($0.range.upperBound)]" }
        let objects = ([document.root] + document.elements).filter { $0.kind == .object && $0.range.count > 0 }
            .filter { document.root.kind != .array || $0 != document.root }
            .map { element -> String in
                var members: [String] = []
                for (k, name) in keys.names.enumerated() {
                    let member = document.member(k, of: element)
                    guard let kind = member.kind else { continue }
                    let value: String
                    switch kind {
                    case .string: value = quoted(document.string(member)!)
                    case .number: value = quoted("\(document.number(member)!)")
                    default: value = quoted(String(decoding: bytes[member.range], as: UTF8.self))
                    }
                    members.append("\(quoted(name)):[\"\(kind)\",\(value)]")
                }
                let repeated = element.repeatedKey.map { quoted(keys.names[$0]) } ?? "null"
                return "{\"repeated\":\(repeated),\"members\":{\(members.joined(separator: ","))}}"
            }
        return "{\"ours\":\"accept\",\"foundation\":\(foundation),\"agree\":\(why.isEmpty),\"why\":\(quoted(why)),"
            + "\"root\":\"\(document.root.kind)\",\"count\":\(document.elementCount),"
            + "\"elements\":[\(elements.joined(separator: ","))],\"objects\":[\(objects.joined(separator: ","))]}"
    }
}

while let line = readLine(strippingNewline: true) {
    guard let bytes = unhex(line[...]) else {
        print("{\"ours\":\"bad-input\"}")
        continue
    }
    print(verdict(bytes))
}
