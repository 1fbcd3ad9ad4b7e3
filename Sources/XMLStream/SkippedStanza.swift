/// A stanza the parser read past without building it: its top-level element with only the routing
/// attributes (`id`, `type`, `from`, `to`) and no children, which is all an error reply needs.
public struct SkippedStanza: Sendable, Hashable {
    public var element: StreamElement
    public var reason: StanzaLimit

    public init(element: StreamElement, reason: StanzaLimit) {
        self.element = element
        self.reason = reason
    }
}
