// libFuzzer entry for the JSON scanner (built by Scripts/fuzz.sh, not by SwiftPM): every input
// is scanned, and the verdict and what was extracted are checked against Foundation's
// JSONSerialization and against the scanner itself on the pieces it reported.
import Foundation

let keys = JSONKeyTable(["sessionId", "eventId", "type", "timestamp", "seq", "a", ""])

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzJSONScanner(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    let result = JSONScanner.scan(bytes, keys: keys, maxElements: 3)
    let foundation = try? JSONSerialization.jsonObject(with: Data(bytes), options: [.fragmentsAllowed])
    switch result {
    case .failure(let error):
        precondition(error.offset >= 0 && error.offset <= size, "error offset out of range")
        if foundation != nil {
            precondition(JSONDifferences.explains(bytes, error), "Foundation accepts what we reject, for no documented reason: \(error)")
        }
    case .success(let document):
        precondition(foundation != nil, "we accept what Foundation rejects")
        precondition(String(validating: bytes, as: UTF8.self) != nil && !bytes.contains(0), "accepted text that is not UTF-8 without NULs")
        check(document, foundation!)
    }
    return 0
}

/// Each reported piece stands alone as the JSON it was said to be, and what was extracted is
/// what Foundation reads.
func check(_ document: JSONDocument, _ foundation: Any) {
    let bytes = document.bytes
    let root = document.root
    precondition(rescan(bytes[root.range])?.root.kind == root.kind, "root range is not the root value")
    if root.kind == .array {
        let array = foundation as! [Any]
        precondition(document.elementCount == array.count, "element count differs from Foundation's")
        precondition(document.elements.count == min(array.count, 3), "kept elements are not the first maxElements")
        for (i, element) in document.elements.enumerated() {
            precondition(rescan(bytes[element.range])?.root.kind == element.kind, "element range is not the element")
            if element.kind == .object { checkMembers(document, element, array[i] as! [String: Any]) }
        }
    } else if root.kind == .object {
        checkMembers(document, root, foundation as! [String: Any])
    }
}

func checkMembers(_ document: JSONDocument, _ element: JSONElement, _ object: [String: Any]) {
    for k in 0..<keys.count {
        let member = document.member(k, of: element)
        guard let value = object[keys.names[k]] else {
            precondition(!member.isPresent, "member reported that Foundation does not have")
            continue
        }
        precondition(member.isPresent, "member Foundation has was not reported")
        // Foundation keeps the last of repeated names, the scanner the first: compare only singles.
        guard element.repeatedKey == nil else { continue }
        if let text = value as? String {
            precondition(document.string(member) == text, "decoded string differs from Foundation's")
        } else if value is NSNull {
            precondition(member.kind == .null, "null kind")
        } else if let number = value as? NSNumber, member.kind == .number {
            let ours = document.number(member)!
            precondition(ours == number.doubleValue || (value is NSDecimalNumber), "number differs from Foundation's")
        }
    }
}

func rescan(_ slice: ArraySlice<UInt8>) -> JSONDocument? {
    try? JSONScanner.scan(Array(slice), keys: keys, maxElements: 0).get()
}
