/// A vendor's `Retry-After` header in seconds (APNs, FCM and Web Push services all send seconds), bounded:
/// a negative, garbled or absurd value must not park a push for ever or make it retry at once.
public enum RetryAfter {
    /// The longest wait taken from a vendor; anything longer is treated as this.
    public static let maximum: Duration = .seconds(3600)

    public static func parse(_ header: String?) -> Duration? {
        guard let header else { return nil }
        let digits = header.utf8.drop { $0 == 0x20 }.prefix { $0 != 0x20 }
        guard !digits.isEmpty, digits.count <= 12, digits.allSatisfy({ (0x30...0x39).contains($0) }),
            let seconds = Int(String(decoding: digits, as: UTF8.self))
        else { return nil }
        return min(.seconds(seconds), maximum)
    }
}
