/// The opening tag of a stream: its name, namespace and attributes, plus the default namespace it
/// declares (stanzas inherit it, e.g. `jabber:component:accept`).
public struct XMLStreamHeader: Sendable, Hashable {
    public var element: StreamElement
    public var defaultNamespace: String?

    public init(element: StreamElement, defaultNamespace: String?) {
        self.element = element
        self.defaultNamespace = defaultNamespace
    }
}

/// Which per-stanza limit a skipped stanza broke.
public enum StanzaLimit: Sendable, Hashable, CustomStringConvertible {
    case tooLarge(limit: Int)
    case tooDeep(limit: Int)

    /// A short label for metrics and logs.
    public var label: String {
        switch self {
        case .tooLarge: "too_large"
        case .tooDeep: "too_deep"
        }
    }

    public var description: String {
        switch self {
        case .tooLarge(let limit): "stanza exceeds \(limit) bytes"
        case .tooDeep(let limit): "stanza nests deeper than \(limit) levels"
        }
    }
}

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

/// What the stream parser emits: the header once, then one complete tree per top-level stanza (or a
/// skipped stanza that broke a per-stanza limit), then the end.
public enum XMLStreamEvent: Sendable, Hashable {
    case streamStart(XMLStreamHeader)
    case stanza(StreamElement)
    case stanzaSkipped(SkippedStanza)
    case streamEnd
}
