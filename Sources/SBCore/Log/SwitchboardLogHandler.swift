public import Logging
import Foundation

/// The process's log handler: `LOG_FORMAT=text` gives
/// `2026-11-24T12:00:00.000Z info switchboard: message key=value`; `json` gives one JSON object
/// per line on stderr, so log shippers need no parsing rules.
public struct SwitchboardLogHandler: LogHandler {
    public enum Format: Sendable {
        case text
        case json
    }

    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level
    private let label: String
    private let format: Format

    public init(label: String, level: Logger.Level, format: Format) {
        self.label = label
        self.logLevel = level
        self.format = format
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        let merged = metadata.merging(event.metadata ?? [:]) { _, new in new }
        let timestamp = ISO8601.format(milliseconds: WallClock.millisecondsSinceEpoch())
        var line: Data
        switch format {
        case .json:
            var object: [String: Any] = ["ts": timestamp, "level": event.level.rawValue, "logger": label, "msg": event.message.description]
            for (key, value) in merged { object[key] = value.description }
            guard let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]) else { return }
            line = data
        case .text:
            var text = "\(timestamp) \(event.level.rawValue) \(Self.escaped(label)): \(Self.escaped(event.message.description))"
            for key in merged.keys.sorted() { text += " \(Self.escaped(key))=\(Self.field(merged[key]!.description))" }
            line = Data(text.utf8)
        }
        line.append(0x0A)
        FileHandle.standardError.write(line)
    }

    /// Text format: what a client sent (a path, a header, a session id, an error text) can never
    /// start a line of its own, move the terminal or hide itself. Every C0 control, DEL, every
    /// C1 control (U+0085 NEL among them) and U+2028/U+2029 is written as an escape: `\n`, `\r`,
    /// `\t`, or `\u{XX}`; a backslash is doubled so escapes cannot be forged either.
    public static func escaped(_ text: String) -> String {
        guard text.unicodeScalars.contains(where: needsEscape) else { return text }
        var out = ""
        out.reserveCapacity(text.utf8.count + 8)
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "\\": out += "\\\\"
            case _ where needsEscape(scalar): out += "\\u{" + String(scalar.value, radix: 16) + "}"
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out
    }

    /// A metadata value: escaped, and quoted when it holds a space, a quote or `=`, so one value
    /// cannot pose as further `key=value` fields (`path=/a level=critical`).
    static func field(_ value: String) -> String {
        let text = escaped(value)
        guard text.isEmpty || text.utf8.contains(where: { $0 == 0x20 || $0 == 0x22 || $0 == 0x3D }) else { return text }
        return "\"" + text.replacingOccurrences(of: "\"", with: "\\\"") + "\""
    }

    static func needsEscape(_ scalar: Unicode.Scalar) -> Bool {
        let v = scalar.value
        return v < 0x20 || v == 0x5C || (0x7F...0x9F).contains(v) || v == 0x2028 || v == 0x2029
    }
}
