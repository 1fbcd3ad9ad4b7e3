/// The vendor that delivers a registration's pushes.
public enum PushVendor: String, Sendable, Hashable, CaseIterable, Codable {
    case apns, fcm, webpush
}
