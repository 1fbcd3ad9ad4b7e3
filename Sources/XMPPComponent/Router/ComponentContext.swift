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
    /// Readers for the payloads `routeRead` answers, made anew for each connection's parser.
    func makePayloadReaders() -> [any StanzaPayloadReader]
    /// Answers a stanza whose payload one of those readers read, on the thread it was read on and
    /// without a task; `respond` is called once, from any thread (nil: send nothing).
    func routeRead(_ read: ReadStanza, context: ComponentContext, respond: @escaping @Sendable (IQAnswer?) -> Void)
}

extension StanzaRouting {
    public func makePayloadReaders() -> [any StanzaPayloadReader] { [] }

    public func routeRead(_ read: ReadStanza, context: ComponentContext, respond: @escaping @Sendable (IQAnswer?) -> Void) {
        respond(read.stanza.isIQRequest ? .error(.serviceUnavailable) : nil)
    }
}

/// The answer to an iq request handled on the fast path: a bare `result`, or an error.
public enum IQAnswer: Sendable, Hashable {
    case result
    case error(StanzaError)
}

/// An iq payload answered as soon as it is read, on its connection's event loop, without a task: a
/// component's fast path. It brings a reader that makes its request straight from parser events, one
/// per connection.
public protocol ImmediateIQHandler: Sendable {
    func makeReader() -> any StanzaPayloadReader
    /// Handles a request whose payload this handler's reader read; `respond` is called once, from any thread.
    func handle(_ request: ReadStanza, context: ComponentContext, respond: @escaping @Sendable (IQAnswer) -> Void)
}

/// Handles one kind of iq request, identified by its payload's name and namespace.
public protocol IQHandler: Sendable {
    func handle(_ iq: StreamElement, context: ComponentContext) async throws(StanzaError) -> StreamElement?
}
