import Crypto

/// Renders identifiers that must never appear in logs (device tokens, JIDs, nodes) as a short,
/// stable fingerprint, so operators can still correlate log lines about the same device.
public enum Redaction {
    /// The first 12 hex digits of SHA-256 over the value.
    public static func fingerprint(_ value: some StringProtocol) -> String {
        var hasher = SHA256()
        var text = String(value)
        text.withUTF8 { hasher.update(bufferPointer: UnsafeRawBufferPointer($0)) }
        let digest = hasher.finalize()
        // Twelve hex digits, written straight into the string (every push's collapse id is one).
        return digest.withUnsafeBytes { bytes in
            String(unsafeUninitializedCapacity: 12) { buffer in
                let digits: StaticString = "0123456789abcdef"
                for index in 0..<6 {
                    buffer[2 * index] = digits.utf8Start[Int(bytes[index] >> 4)]
                    buffer[2 * index + 1] = digits.utf8Start[Int(bytes[index] & 0x0F)]
                }
                return 12
            }
        }
    }
}
