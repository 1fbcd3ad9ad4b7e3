import Foundation
import Logging

/// One JSON object per line (`log.format: json`), for log collectors: `time` (UTC, milliseconds),
/// `level`, `label`, `message`, `source`, then each metadata key as a field of its own with a string
/// value (nested metadata joined with dots), so collectors index them without a nested object.
public struct JSONLogHandler: LogHandler {
    public var logLevel: Logger.Level = .info
    public var metadata: Logger.Metadata = [:]
    public var metadataProvider: Logger.MetadataProvider?
    private let label: String
    private let write: @Sendable (String) -> Void

    /// The fields every line has; a metadata key with one of these names is written as `metadata.<key>`.
    static let fixedFields: Set<String> = ["time", "level", "label", "message", "source"]
    private static let timeFormat = Date.ISO8601FormatStyle(includingFractionalSeconds: true)

    public init(label: String, write: @escaping @Sendable (String) -> Void = { FileHandle.standardError.write(Data(($0 + "\n").utf8)) }) {
        self.label = label
        self.write = write
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var merged = metadata
        if let provided = metadataProvider?.get() { merged.merge(provided) { _, new in new } }
        if let extra = event.metadata { merged.merge(extra) { _, new in new } }
        var object: [String: Any] = [
            "time": Self.timeFormat.format(Date()),
            "level": event.level.rawValue,
            "label": label,
            "message": "\(event.message)",
            "source": event.source,
        ]
        for (key, value) in merged {
            Self.flatten(value, key: key) { key, value in
                object[Self.fixedFields.contains(key) ? "metadata.\(key)" : key] = value
            }
        }
        guard let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes]) else { return }
        write(String(decoding: data, as: UTF8.self))
    }

    private static func flatten(_ value: Logger.Metadata.Value, key: String, into add: (String, Any) -> Void) {
        switch value {
        case .string(let text): add(key, text)
        case .stringConvertible(let convertible): add(key, convertible.description)
        case .array(let values): add(key, values.map { "\($0)" })
        case .dictionary(let nested):
            for (inner, value) in nested { flatten(value, key: "\(key).\(inner)", into: add) }
        }
    }
}
