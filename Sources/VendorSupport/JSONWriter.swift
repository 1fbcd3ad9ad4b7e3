/// A small JSON writer for vendor payloads: faster than Codable for these few fixed shapes, and it
/// keeps key order stable, which makes payloads easy to compare in tests.
public struct JSONWriter {
    public private(set) var text = ""
    private var needsComma = [false]

    public init() {
        text.reserveCapacity(256)
    }

    public mutating func beginObject(_ key: String? = nil) {
        writeKey(key)
        text += "{"
        needsComma.append(false)
    }

    public mutating func endObject() {
        text += "}"
        needsComma.removeLast()
    }

    public mutating func string(_ key: String, _ value: String) {
        writeKey(key)
        Self.escape(value, into: &text)
    }

    public mutating func number(_ key: String, _ value: Int) {
        writeKey(key)
        text += String(value)
    }

    mutating func writeKeyForValue(_ key: String?) { writeKey(key) }

    private mutating func writeKey(_ key: String?) {
        if needsComma[needsComma.count - 1] { text += "," }
        needsComma[needsComma.count - 1] = true
        if let key {
            Self.escape(key, into: &text)
            text += ":"
        }
    }

    public static func escape(_ value: String, into text: inout String) {
        text += "\""
        // Keys and most values need no escaping: appended whole, not scalar by scalar.
        if !value.utf8.contains(where: { $0 < 0x20 || $0 == 0x22 || $0 == 0x5C }) {
            text += value
            text += "\""
            return
        }
        for scalar in value.unicodeScalars {
            switch scalar {
            case "\"": text += "\\\""
            case "\\": text += "\\\\"
            case "\n": text += "\\n"
            case "\r": text += "\\r"
            case "\t": text += "\\t"
            case let control where control.value < 0x20:
                let hex = String(control.value, radix: 16)
                text += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: text.unicodeScalars.append(scalar)
            }
        }
        text += "\""
    }
}

extension JSONWriter {
    public mutating func bool(_ key: String, _ value: Bool) {
        writeKeyForValue(key)
        text += value ? "true" : "false"
    }
}
