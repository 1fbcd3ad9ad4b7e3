import Foundation

/// A push waiting in the registration store for its next attempt, so that it survives a restart or a
/// crash: one per node (saving replaces), with the times it may go and must have gone by.
public struct PendingPush: Sendable, Hashable, Codable {
    public var node: String
    /// The publish to push, without its secret (it was checked when the publish came in).
    public var publish: Publish
    public var pushClass: PushClass
    /// Attempts made so far; 0 for a push that never went out (the end of a burst, kept at shutdown).
    public var attempt: Int
    public var notBefore: Date
    public var deadline: Date

    public init(node: String, publish: Publish, pushClass: PushClass, attempt: Int, notBefore: Date, deadline: Date) {
        self.node = node
        var publish = publish
        publish.secret = nil
        self.publish = publish
        self.pushClass = pushClass
        self.attempt = attempt
        self.notBefore = notBefore
        self.deadline = deadline
    }
}
