import XMPPComponent

/// The namespace of XEP-0357 push notifications.
public enum PushNamespace {
    public static let push = "urn:xmpp:push:0"
}

extension ComponentRouter {
    /// A router for a Herald component domain: XEP-0357 requires a push service to present itself as
    /// `pubsub/push` and to list the push namespace.
    public static func pushService() -> ComponentRouter {
        ComponentRouter(
            identity: Identity(category: "pubsub", type: "push", name: "Herald push service"),
            extraFeatures: [PushNamespace.push]
        )
    }
}
