/// What a vendor made of a push, in the terms Herald acts on.
public enum PushOutcome: Sendable, Hashable {
    /// Accepted by the vendor; `id` is the vendor's id for it (apns-id, FCM message name).
    /// `environment`: APNs took it only in the other environment than the registration's, which the
    /// registration should remember.
    case delivered(id: String?, environment: APNsEnvironment? = nil)
    /// The token will never work again: remove the registration.
    case deadToken(reason: VendorReason)
    /// Worth trying again later (429, 5xx, no connection to the vendor), after `retryAfter` if the
    /// vendor said: the vendor did not take the push.
    case retry(reason: VendorReason, retryAfter: Duration?)
    /// Sent, but no verdict came (timeout, connection lost mid-request): the vendor may have taken it,
    /// so sending it again could show the notification twice.
    case unconfirmed(reason: VendorReason)
    /// Our credentials or configuration are wrong; retrying will not help until an operator acts.
    case credentials(reason: VendorReason)
    /// The vendor refused the request itself (our bug, or a payload it cannot take); do not retry as is.
    case rejected(reason: VendorReason)

    public var reason: VendorReason {
        switch self {
        case .delivered: "delivered"
        case .deadToken(let reason), .retry(let reason, _), .unconfirmed(let reason), .credentials(let reason), .rejected(let reason): reason
        }
    }
}
