import Foundation

/// One push on its way to a vendor.
public struct PushRequest: Sendable, Hashable {
    public var registration: Registration
    public var publish: Publish
    public var pushClass: PushClass
    /// The app's payload settings.
    public var content: ContentPolicy

    public init(registration: Registration, publish: Publish, pushClass: PushClass, content: ContentPolicy) {
        self.registration = registration
        self.publish = publish
        self.pushClass = pushClass
        self.content = content
    }
}

/// What an app lets Herald put into a push. Privacy by default: no message text, no sender.
public struct ContentPolicy: Sendable, Hashable {
    public var forwardBody: Bool
    public var forwardSender: Bool
    /// The alert title shown for important pushes.
    public var alertTitle: String
    /// Seconds a vendor may hold an undelivered push.
    public var timeToLive: Int
    /// Whether pushes for one account replace each other on the device (APNs collapse id, FCM collapse key).
    public var collapse: Bool

    public init(forwardBody: Bool = false, forwardSender: Bool = false, alertTitle: String = "New message", timeToLive: Int = 86_400, collapse: Bool = true) {
        self.forwardBody = forwardBody
        self.forwardSender = forwardSender
        self.alertTitle = alertTitle
        self.timeToLive = timeToLive
        self.collapse = collapse
    }
}

/// What a vendor made of a push, in the terms Herald acts on.
public enum PushOutcome: Sendable, Hashable {
    /// Accepted by the vendor; `id` is the vendor's id for it (apns-id, FCM message name).
    /// `environment`: APNs took it only in the other environment than the registration's, which the
    /// registration should remember.
    case delivered(id: String?, environment: APNsEnvironment? = nil)
    /// The token will never work again: remove the registration.
    case deadToken(reason: String)
    /// Worth trying again later (429, 5xx, no connection to the vendor), after `retryAfter` if the
    /// vendor said: the vendor did not take the push.
    case retry(reason: String, retryAfter: Duration?)
    /// Sent, but no verdict came (timeout, connection lost mid-request): the vendor may have taken it,
    /// so sending it again could show the notification twice.
    case unconfirmed(reason: String)
    /// Our credentials or configuration are wrong; retrying will not help until an operator acts.
    case credentials(reason: String)
    /// The vendor refused the request itself (our bug, or a payload it cannot take); do not retry as is.
    case rejected(reason: String)

    public var reason: String {
        switch self {
        case .delivered: "delivered"
        case .deadToken(let reason), .retry(let reason, _), .unconfirmed(let reason), .credentials(let reason), .rejected(let reason): reason
        }
    }
}

/// A vendor client: APNs, FCM, Web Push. Implementations map every vendor answer to a `PushOutcome`
/// in one place and never throw: a failure is an outcome too.
public protocol PushProvider: Sendable {
    func send(_ push: PushRequest) async -> PushOutcome
}

/// The vendor clients of every app: each app has its own credentials and topic per vendor.
public struct PushProviders: Sendable {
    private var providers: [String: [PushService: any PushProvider]] = [:]

    public init() {}

    public subscript(app app: String, service service: PushService) -> (any PushProvider)? {
        get { providers[app]?[service] }
        set { providers[app, default: [:]][service] = newValue }
    }

    /// The same provider for every app (tests, single-app setups).
    public static func shared(_ provider: any PushProvider, apps: [String], services: [PushService]) -> PushProviders {
        var providers = PushProviders()
        for app in apps {
            for service in services { providers[app: app, service: service] = provider }
        }
        return providers
    }
}
