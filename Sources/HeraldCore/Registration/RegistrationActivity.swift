import Foundation

/// What became of a registration's latest pushes: shown by the admin API and `herald registrations show`.
public struct RegistrationActivity: Sendable, Hashable {
    /// When a vendor last accepted a push; nil leaves the stored time as it is.
    public var lastPushAt: Date?
    /// Why the latest push failed; nil once one was accepted.
    public var lastFailure: String?

    public init(lastPushAt: Date? = nil, lastFailure: String? = nil) {
        self.lastPushAt = lastPushAt
        self.lastFailure = lastFailure
    }
}
