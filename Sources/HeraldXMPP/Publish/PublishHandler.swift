import HeraldCore
import Logging
import XMLStream
import XMPPComponent

/// What the publish handler needs of the dispatcher.
public protocol PublishProcessing: Sendable {
    func publish(_ publish: Publish) async -> PublishOutcome
    /// The same, without a task: `reply` is called once, from any thread.
    func publish(_ publish: Publish, reply: @escaping @Sendable (PublishOutcome) -> Void)
}

extension PublishProcessing {
    /// For processors without a fast path of their own (test doubles): the async publish, in a task.
    public func publish(_ publish: Publish, reply: @escaping @Sendable (PublishOutcome) -> Void) {
        Task { reply(await self.publish(publish)) }
    }
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
        if context.isDraining() { throw Self.restarting }
        let publish = try PublishParser.parse(iq)
        let outcome = await dispatcher.publish(publish)
        Self.log(outcome, of: publish, context: context)
        if let error = Self.reply(to: outcome) { throw error }
        return iq.iqResult()
    }

    private static let restarting = StanzaError(.wait, "resource-constraint", text: "push service is restarting")

    private static func log(_ outcome: PublishOutcome, of publish: Publish, context: ComponentContext) {
        context.logger.debug("publish answered", metadata: [
            LogKey.node: "\(Redaction.fingerprint(publish.node))", LogKey.outcome: "\(outcome.label)",
        ])
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

/// The fast path: publishes read by `PublishReader` straight from the parser, answered without a task.
extension PublishHandler: ImmediateIQHandler {
    public func makeReader() -> any StanzaPayloadReader {
        PublishReader()
    }

    public func handle(_ request: ReadStanza, context: ComponentContext, respond: @escaping @Sendable (IQAnswer) -> Void) {
        if context.isDraining() { return respond(.error(Self.restarting)) }
        let publish: Publish
        do {
            publish = try PublishParser.parse(request)
        } catch {
            return respond(.error(error))
        }
        dispatcher.publish(publish) { outcome in
            Self.log(outcome, of: publish, context: context)
            respond(Self.reply(to: outcome).map(IQAnswer.error) ?? .result)
        }
    }
}

extension ComponentRouter {
    /// Routes pubsub publishes (iq set with a `<pubsub/>` payload) to `handler`: on the fast path when
    /// the payload is the iq's first child (as every server sends it), as a tree otherwise.
    public mutating func registerPublishHandler(_ handler: PublishHandler) {
        register(handler, type: "set", payload: "pubsub", namespace: Namespace.pubsub)
        register(immediate: handler)
    }
}
