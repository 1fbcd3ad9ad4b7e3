import Crypto

/// Renders identifiers that must never appear in logs (device tokens, JIDs, nodes) as a short,
/// stable fingerprint, so operators can still correlate log lines about the same device.
public enum Redaction {
    /// The first 12 hex digits of SHA-256 over the value.
    public static func fingerprint(_ value: some StringProtocol) -> String {
        let digest = SHA256.hash(data: Array(value.utf8))
        return String(digest.prefix(6).map { byte in
            let hex = String(byte, radix: 16)
            return byte < 16 ? "0" + hex : hex
        }.joined())
    }
}
