import XMLStream

/// Builders and accessors for the three stanza kinds, on top of `StreamElement`.
public enum Stanza {
    /// Stanzas on a component stream live in this namespace; they are treated like `jabber:client` stanzas.
    public static let componentNamespace = "jabber:component:accept"

    public static func iq(
        type: String,
        id: String,
        from: JID,
        to: JID,
        payload: StreamElement? = nil
    ) -> StreamElement {
        var iq = StreamElement(
            "iq",
            namespace: componentNamespace,
            ["type": type, "id": id, "from": from.description, "to": to.description]
        )
        if let payload { iq.append(payload) }
        return iq
    }
}

extension StreamElement {
    public var stanzaID: String? { self[attribute: "id"] }
    public var stanzaType: String? { self[attribute: "type"] }
    public var from: JID? { self[attribute: "from"].flatMap(JID.init) }
    public var to: JID? { self[attribute: "to"].flatMap(JID.init) }

    public var isIQ: Bool { name == "iq" }
    /// An iq `get` or `set`, which must be answered.
    public var isIQRequest: Bool { isIQ && (stanzaType == "get" || stanzaType == "set") }
    public var isIQResponse: Bool { isIQ && (stanzaType == "result" || stanzaType == "error") }

    /// The first child element of an iq: the query or command it carries.
    public var iqPayload: StreamElement? { elements.first { $0.name != "error" } }

    /// A `result` answering this iq request, addressed back to its sender.
    public func iqResult(payload: StreamElement? = nil) -> StreamElement {
        var reply = StreamElement("iq", namespace: Stanza.componentNamespace, ["type": "result"])
        reply.addressReply(to: self)
        if let payload { reply.append(payload) }
        return reply
    }

    /// An error reply to this stanza, addressed back to its sender.
    public func errorReply(_ error: StanzaError) -> StreamElement {
        var reply = StreamElement(name, namespace: Stanza.componentNamespace, ["type": "error"])
        reply.addressReply(to: self)
        reply.append(error.element)
        return reply
    }

    private mutating func addressReply(to request: StreamElement) {
        if let id = request[attribute: "id"] { self[attribute: "id"] = id }
        if let from = request[attribute: "to"] { self[attribute: "from"] = from }
        if let to = request[attribute: "from"] { self[attribute: "to"] = to }
    }
}
