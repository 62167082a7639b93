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
        let timestamp = ISO8601.format(milliseconds: MonotonicClock.wallMilliseconds())
        var line: Data
        switch format {
        case .json:
            var object: [String: Any] = ["ts": timestamp, "level": event.level.rawValue, "logger": label, "msg": event.message.description]
            for (key, value) in merged { object[key] = value.description }
            guard let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]) else { return }
            line = data
        case .text:
            var text = "\(timestamp) \(event.level.rawValue) \(label): \(event.message)"
            for key in merged.keys.sorted() { text += " \(key)=\(merged[key]!)" }
            line = Data(text.utf8)
        }
        line.append(0x0A)
        FileHandle.standardError.write(line)
    }
}
