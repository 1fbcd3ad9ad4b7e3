import Logging
import XMLStream

/// What a stanza handler may use of the connection it was called from.
public struct ComponentContext: Sendable {
    /// The component's own domain, which every outbound stanza comes from.
    public let domain: JID
    public let logger: Logger
    /// Whether the component is draining for shutdown: new requests should be turned away with `wait`.
    public let isDraining: @Sendable () -> Bool

    public init(domain: JID, logger: Logger, isDraining: @escaping @Sendable () -> Bool = { false }) {
        self.domain = domain
        self.logger = logger
        self.isDraining = isDraining
    }
}

/// Answers inbound stanzas. Returning nil sends nothing (presence, messages, responses).
public protocol StanzaRouting: Sendable {
    func route(_ stanza: StreamElement, context: ComponentContext) async -> StreamElement?
}

/// Handles one kind of iq request, identified by its payload's name and namespace.
public protocol IQHandler: Sendable {
    func handle(_ iq: StreamElement, context: ComponentContext) async throws(StanzaError) -> StreamElement?
}
