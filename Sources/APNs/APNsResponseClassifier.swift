import Foundation
import HeraldCore

/// Apple's answers, mapped to what Herald does about them: the one place that knows APNs reasons.
public enum APNsResponseClassifier {
    /// Reasons after which the token will never work: remove the registration.
    static let deadTokenReasons: Set<VendorReason> = [
        VendorReason.APNs.unregistered, VendorReason.APNs.expiredToken, VendorReason.APNs.badDeviceToken,
        VendorReason.APNs.deviceTokenNotForTopic,
    ]

    public static func outcome(status: Int, reason: String?, retryAfter: Duration?, apnsID: String?) -> PushOutcome {
        let reason = VendorReason.code(reason ?? "HTTP \(status)")
        switch status {
        case 200:
            return .delivered(id: apnsID)
        case 410:
            return .deadToken(reason: reason)
        case 400 where deadTokenReasons.contains(reason):
            return .deadToken(reason: reason)
        case 400 where reason == VendorReason.APNs.idleTimeout:
            return .retry(reason: reason, retryAfter: nil)
        case 403:
            return .credentials(reason: reason)
        case 429 where reason == VendorReason.APNs.tooManyProviderTokenUpdates:
            return .credentials(reason: reason)
        case 429:
            return .retry(reason: reason, retryAfter: retryAfter)
        case 500...599:
            return .retry(reason: reason, retryAfter: retryAfter)
        default:
            return .rejected(reason: reason)
        }
    }

    /// The `reason` of an error body `{"reason":"…"}`.
    public static func reason(in body: Data) -> String? {
        guard !body.isEmpty, let object = try? JSONSerialization.jsonObject(with: body) as? [String: Any] else { return nil }
        return object["reason"] as? String
    }
}

extension VendorReason {
    /// The APNs reasons Herald acts on (Apple's "Handling notification responses from APNs").
    public enum APNs {
        public static let unregistered: VendorReason = "Unregistered"
        public static let expiredToken: VendorReason = "ExpiredToken"
        public static let badDeviceToken: VendorReason = "BadDeviceToken"
        public static let deviceTokenNotForTopic: VendorReason = "DeviceTokenNotForTopic"
        public static let idleTimeout: VendorReason = "IdleTimeout"
        public static let expiredProviderToken: VendorReason = "ExpiredProviderToken"
        public static let tooManyProviderTokenUpdates: VendorReason = "TooManyProviderTokenUpdates"
    }
}
