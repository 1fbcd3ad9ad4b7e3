import HeraldSupport

/// Bounds on delivery: bursts, retries and the queue that holds them.
public struct DeliveryPolicy: Sendable, Hashable {
    /// Publishes for one node within this window become at most two vendor pushes: the first at once,
    /// the last when the window ends.
    public var coalescingWindow: Duration
    /// Delay between attempts after a transient vendor failure (a vendor's Retry-After wins if longer).
    public var retryBackoff: Backoff
    /// Attempts at most per push, the first included.
    public var maximumAttempts: Int
    /// A push still undelivered this long after its publish is dropped: the news is stale.
    public var retryDeadline: Duration
    /// Pushes waiting (to retry, or at the end of a burst) at most; beyond it publishes get `wait`.
    public var maximumQueuedPushes: Int
    /// Publishes waiting for the verdict on the push at the end of their burst, at most; beyond it a
    /// publish that would join a burst gets `wait` at once.
    public var maximumHeldReplies: Int
    /// How long an instance holds a stored pending push unless it renews (every third of it): how
    /// soon another instance sharing the store takes over a killed one's retries.
    public var pendingLease: Duration

    public init(
        coalescingWindow: Duration = .seconds(1),
        retryBackoff: Backoff = Backoff(initialDelay: .seconds(1), maximumDelay: .seconds(60)),
        maximumAttempts: Int = 6,
        retryDeadline: Duration = .seconds(300),
        maximumQueuedPushes: Int = 10_000,
        maximumHeldReplies: Int = 10_000,
        pendingLease: Duration = .seconds(30)
    ) {
        self.coalescingWindow = coalescingWindow
        self.retryBackoff = retryBackoff
        self.maximumAttempts = maximumAttempts
        self.retryDeadline = retryDeadline
        self.maximumQueuedPushes = maximumQueuedPushes
        self.maximumHeldReplies = maximumHeldReplies
        self.pendingLease = pendingLease
    }
}

/// What became of a publish, in the terms the publishing server must hear (mapped to XMPP replies at
/// the XMPP edge).
public enum PublishOutcome: Sendable, Hashable {
    /// A vendor accepted a push carrying this publish (itself, or the push at the end of its burst).
    case delivered
    case unknownNode
    /// Wrong or missing secret, or a publisher other than the account's server.
    case forbidden
    /// The vendor declared the token dead; the registration is gone.
    case tokenRemoved(reason: String)
    /// A transient failure, and a push carrying this publish is stored for a retry.
    case retrying(reason: String)
    /// A transient failure, and nothing is queued: attempts, deadline or queue are used up.
    case notDelivered(reason: String)
    /// Sent to the vendor, which gave no verdict; not sent again, since it may have been shown.
    case unconfirmed(reason: String)
    /// Herald cannot take more work right now.
    case overloaded
    /// Our credentials, configuration or request are wrong: not the publisher's problem.
    case failed(reason: String)
}

/// Compares secrets in time independent of where they differ.
public func constantTimeEquals(_ lhs: String, _ rhs: String) -> Bool {
    // Read in place: a copy of each side was two allocations on every publish.
    var lhs = lhs
    var rhs = rhs
    return lhs.withUTF8 { left in
        rhs.withUTF8 { right in
            var difference: UInt8 = 0
            for index in 0..<max(left.count, right.count) {
                let a = index < left.count ? left[index] : 0
                let b = index < right.count ? right[index] : 0
                difference |= a ^ b
            }
            // Lengths compared whole: a length's low byte alone let a secret padded with 256 NULs pass.
            return difference == 0 && left.count == right.count
        }
    }
}
