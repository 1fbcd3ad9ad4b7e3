/// One attribute of an element. `namespace` is nil for unprefixed attributes, which XML leaves in no namespace.
public struct XMLAttribute: Sendable, Hashable {
    public var name: String
    public var namespace: String?
    public var value: String

    public init(name: String, namespace: String? = nil, value: String) {
        self.name = name
        self.namespace = namespace
        self.value = value
    }
}

/// A child of an element: a nested element or a run of character data.
public enum StreamNode: Sendable, Hashable {
    case element(StreamElement)
    case text(String)
}

/// An element tree with resolved namespaces. Prefixes are not kept: they carry no meaning once
/// resolved, and the serializer chooses its own declarations.
public struct StreamElement: Sendable, Hashable {
    public static let xmlNamespace = "http://www.w3.org/XML/1998/namespace"

    public var name: String
    public var namespace: String?
    public var attributes: [XMLAttribute]
    public var children: [StreamNode]

    public init(
        _ name: String,
        namespace: String? = nil,
        attributes: [XMLAttribute] = [],
        children: [StreamNode] = []
    ) {
        self.name = name
        self.namespace = namespace
        self.attributes = attributes
        self.children = children
    }

    /// Builds an element from unprefixed attributes given in order.
    public init(
        _ name: String,
        namespace: String? = nil,
        _ attributes: KeyValuePairs<String, String?>,
        children: [StreamNode] = []
    ) {
        self.name = name
        self.namespace = namespace
        self.attributes = attributes.compactMap { key, value in value.map { XMLAttribute(name: key, value: $0) } }
        self.children = children
    }

    // MARK: Attributes

    /// The value of an unprefixed attribute.
    public subscript(attribute name: String) -> String? {
        get { attributes.first { $0.name == name && $0.namespace == nil }?.value }
        set { setAttribute(name, namespace: nil, value: newValue) }
    }

    public func attribute(_ name: String, namespace: String?) -> String? {
        attributes.first { $0.name == name && $0.namespace == namespace }?.value
    }

    public mutating func setAttribute(_ name: String, namespace: String?, value: String?) {
        let index = attributes.firstIndex { $0.name == name && $0.namespace == namespace }
        switch (index, value) {
        case (let index?, let value?): attributes[index].value = value
        case (let index?, nil): attributes.remove(at: index)
        case (nil, let value?): attributes.append(XMLAttribute(name: name, namespace: namespace, value: value))
        case (nil, nil): break
        }
    }

    // MARK: Children

    public var elements: [StreamElement] {
        children.compactMap { if case .element(let element) = $0 { element } else { nil } }
    }

    /// The first child element with this name, and this namespace when one is given.
    public func child(_ name: String, namespace: String? = nil) -> StreamElement? {
        for case .element(let element) in children where element.name == name {
            if namespace == nil || element.namespace == namespace { return element }
        }
        return nil
    }

    public func children(_ name: String, namespace: String? = nil) -> [StreamElement] {
        elements.filter { $0.name == name && (namespace == nil || $0.namespace == namespace) }
    }

    /// The first child element in a namespace, whatever its name (stanza payloads, error conditions).
    public func firstChild(inNamespace namespace: String) -> StreamElement? {
        for case .element(let element) in children where element.namespace == namespace { return element }
        return nil
    }

    /// The concatenated character data directly inside this element.
    public var text: String {
        var result = ""
        for case .text(let text) in children { result += text }
        return result
    }

    public mutating func append(_ element: StreamElement) {
        children.append(.element(element))
    }

    public mutating func append(text: String) {
        if case .text(let previous)? = children.last {
            children[children.count - 1] = .text(previous + text)
        } else {
            children.append(.text(text))
        }
    }

    /// This element with a child appended; convenient for building stanzas as expressions.
    public func appending(_ element: StreamElement) -> StreamElement {
        var copy = self
        copy.append(element)
        return copy
    }

    /// An element whose only content is text.
    public static func text(_ name: String, namespace: String? = nil, _ value: String) -> StreamElement {
        StreamElement(name, namespace: namespace, children: [.text(value)])
    }
}
