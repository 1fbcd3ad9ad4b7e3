/// A small JSON writer for vendor payloads: faster than Codable for these few fixed shapes, and it
/// keeps key order stable, which makes payloads easy to compare in tests.
public struct JSONWriter {
    public private(set) var text = ""
    /// Bit `n` says whether the object open at depth `n` already has a member, so the next needs a comma:
    /// a word rather than an array, which cost an allocation for every payload written.
    private var hasMembers: UInt64 = 0
    private var depth = 0

    /// Vendor payloads nest three or four objects deep; the bit set above holds this many.
    public static let maximumDepth = 63

    public init() {
        text.reserveCapacity(256)
    }

    public mutating func beginObject(_ key: String? = nil) {
        writeKey(key)
        text += "{"
        precondition(depth < Self.maximumDepth, "JSON nested deeper than JSONWriter.maximumDepth")
        depth += 1
        hasMembers &= ~(1 << depth)
    }

    public mutating func endObject() {
        precondition(depth > 0, "endObject without beginObject")
        text += "}"
        depth -= 1
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
        let bit: UInt64 = 1 << depth
        if hasMembers & bit != 0 { text += "," }
        hasMembers |= bit
        if let key {
            Self.escape(key, into: &text)
            text += ":"
        }
    }

    public static func escape(_ value: String, into text: inout String) {
        text += "\""
        // Keys and most values need no escaping: appended whole, not scalar by scalar.
        if !Self.needsEscaping(value) {
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

    /// Whether `value` holds a quote, a backslash or a control character: a plain loop over its bytes
    /// where they are contiguous (every native string), not the UTF-8 view's iterator.
    private static func needsEscaping(_ value: String) -> Bool {
        let scanned = value.utf8.withContiguousStorageIfAvailable { bytes in
            bytes.contains { $0 < 0x20 || $0 == 0x22 || $0 == 0x5C }
        }
        return scanned ?? value.utf8.contains { $0 < 0x20 || $0 == 0x22 || $0 == 0x5C }
    }
}

extension JSONWriter {
    public mutating func bool(_ key: String, _ value: Bool) {
        writeKeyForValue(key)
        text += value ? "true" : "false"
    }
}
