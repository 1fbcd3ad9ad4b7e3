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
