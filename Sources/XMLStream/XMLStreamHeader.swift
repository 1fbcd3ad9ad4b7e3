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
