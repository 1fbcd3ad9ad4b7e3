/// The registration command family a device used; it decides what the push payload looks like.
public enum RegistrationDialect: String, Sendable, Hashable, CaseIterable, Codable {
    /// Conversations / p2 / Openfire: `register-push-{apns,fcm}`.
    case p2
    /// Monal / mod_push_appserver: `v1-register-push`.
    case v1
    /// Siskin / Snikket iOS / Tigase: `register-device`.
    case tigase
    /// Web Push / UnifiedPush subscriptions.
    case webpush
    /// Registered over Herald's HTTP API.
    case http
    /// Never registered: Monal's fpush-style enable, whose node is the APNs token (`StatelessApps`).
    case stateless
}
