import HeraldCore
import Logging
import XMLStream
import XMPPComponent

/// What the publish handler needs of the dispatcher.
public protocol PublishProcessing: Sendable {
    func publish(_ publish: Publish) async -> PublishOutcome
}

extension PushDispatcher: PublishProcessing {}

/// Answers pubsub publishes to the component: the reply tells the publishing server to keep, retry or
/// drop the registration, so the mapping below is the contract with Prosody, ejabberd and MongooseIM.
public struct PublishHandler: IQHandler {
    public let dispatcher: any PublishProcessing

    public init(dispatcher: any PublishProcessing) {
        self.dispatcher = dispatcher
    }

    public func handle(_ iq: StreamElement, context: ComponentContext) async throws(StanzaError) -> StreamElement? {
        // While draining for shutdown new work is turned away with a type that servers never count.
        if context.isDraining() {
            throw StanzaError(.wait, "resource-constraint", text: "push service is restarting")
        }
        let publish = try PublishParser.parse(iq)
        let outcome = await dispatcher.publish(publish)
        context.logger.debug("publish answered", metadata: [
            LogKey.node: "\(Redaction.fingerprint(publish.node))", LogKey.outcome: "\(outcome.label)",
        ])
        if let error = Self.reply(to: outcome) { throw error }
        return iq.iqResult()
    }

    /// Outcome → reply. Only a dead token or a node that never existed gets a type other than `wait`:
    /// ejabberd drops a registration on the first such error and Prosody after sixteen.
    public static func reply(to outcome: PublishOutcome) -> StanzaError? {
        switch outcome {
        case .delivered:
            nil
        case .unknownNode:
            StanzaError(.cancel, "item-not-found", text: "no such push node")
        case .forbidden:
            StanzaError(.auth, "forbidden", text: "wrong secret or publisher")
        case .tokenRemoved(let reason):
            StanzaError(.cancel, "item-not-found", text: "device token is no longer valid (\(reason))")
        case .retrying(let reason):
            StanzaError(.wait, "internal-server-error", text: "push not delivered (\(reason)); retrying")
        case .notDelivered(let reason):
            StanzaError(.wait, "internal-server-error", text: "push not delivered (\(reason))")
        case .unconfirmed(let reason):
            StanzaError(.wait, "internal-server-error", text: "push vendor did not confirm delivery (\(reason))")
        case .overloaded:
            StanzaError(.wait, "resource-constraint", text: "push service is busy")
        case .failed:
            StanzaError(.wait, "internal-server-error", text: "push service misconfigured")
        }
    }
}

extension ComponentRouter {
    /// Routes pubsub publishes (iq set with a `<pubsub/>` payload) to `handler`.
    public mutating func registerPublishHandler(_ handler: PublishHandler) {
        register(handler, type: "set", payload: "pubsub", namespace: Namespace.pubsub)
    }
}
