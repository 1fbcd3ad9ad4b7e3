/// The opening tag of a stream: its name, namespace and attributes, plus the default namespace it
/// declares (stanzas inherit it, e.g. `jabber:component:accept`).
public struct XMLStreamHeader: Sendable, Hashable {
    public var element: XMLElement
    public var defaultNamespace: String?

    public init(element: XMLElement, defaultNamespace: String?) {
        self.element = element
        self.defaultNamespace = defaultNamespace
    }
}

/// What the stream parser emits: the header once, then one complete tree per top-level stanza, then the end.
public enum XMLStreamEvent: Sendable, Hashable {
    case streamStart(XMLStreamHeader)
    case stanza(XMLElement)
    case streamEnd
}
