import XMLStream

/// Answers what every component answers: disco#info and #items (XEP-0030), ping (XEP-0199) and
/// ad-hoc commands (XEP-0050), plus any iq handlers registered for specific payloads (e.g. pubsub
/// publish). Every other iq request gets `service-unavailable`; messages and presence are ignored.
public struct ComponentRouter: StanzaRouting {
    public struct Identity: Sendable, Hashable {
        public var category: String
        public var type: String
        public var name: String?

        public init(category: String, type: String, name: String? = nil) {
            self.category = category
            self.type = type
            self.name = name
        }
    }

    private struct HandlerKey: Hashable {
        var type: String
        var name: String
        var namespace: String?
    }

    public var identity: Identity
    public private(set) var features: [String]
    public private(set) var commands: [any AdHocCommand] = []
    private var handlers: [HandlerKey: any IQHandler] = [:]
    private var immediateHandlers: [any ImmediateIQHandler] = []

    /// A router that presents itself as `identity` in disco#info, listing `extraFeatures` after the
    /// protocols it answers itself.
    public init(identity: Identity, extraFeatures: [String] = []) {
        self.identity = identity
        var features = [Namespace.discoInfo, Namespace.discoItems, Namespace.ping, Namespace.commands]
        for feature in extraFeatures where !features.contains(feature) { features.append(feature) }
        self.features = features
    }

    public mutating func addFeature(_ feature: String) {
        if !features.contains(feature) { features.append(feature) }
    }

    public mutating func register(_ command: any AdHocCommand) {
        commands.removeAll { $0.node == command.node }
        commands.append(command)
    }

    /// Routes iq requests of `type` whose payload is `<name xmlns='namespace'/>` to `handler`.
    public mutating func register(_ handler: any IQHandler, type: String, payload name: String, namespace: String) {
        handlers[HandlerKey(type: type, name: name, namespace: namespace)] = handler
    }

    /// Answers the payloads `handler`'s reader accepts on the fast path: read from parser events and
    /// handled on the connection's event loop. Payloads it accepts should also have an `IQHandler`
    /// registered, for when they arrive in a shape the reader does not take.
    public mutating func register(immediate handler: any ImmediateIQHandler) {
        immediateHandlers.append(handler)
    }

    public func makePayloadReaders() -> [any StanzaPayloadReader] {
        immediateHandlers.map { $0.makeReader() }
    }

    public func routeRead(_ read: ReadStanza, context: ComponentContext, respond: @escaping @Sendable (IQAnswer?) -> Void) {
        let stanza = read.stanza
        guard stanza.isIQRequest else { return respond(nil) }
        guard Self.isAddressedToDomain(stanza, context.domain) else { return respond(.error(.serviceUnavailable)) }
        guard immediateHandlers.indices.contains(read.reader) else { return respond(.error(.serviceUnavailable)) }
        immediateHandlers[read.reader].handle(read, context: context) { respond($0) }
    }

    /// Only the domain itself is modelled; nobody@push.example.com does not exist.
    private static func isAddressedToDomain(_ stanza: StreamElement, _ domain: JID) -> Bool {
        guard let text = stanza[attribute: "to"] else { return false }
        // The usual case, without parsing: exactly the domain.
        if text == domain.domainpart { return true }
        guard let to = JID(text) else { return false }
        return to.localpart == nil && to.domainpart == domain.domainpart
    }

    public func route(_ stanza: StreamElement, context: ComponentContext) async -> StreamElement? {
        guard stanza.isIQRequest else { return nil }
        guard Self.isAddressedToDomain(stanza, context.domain) else {
            return stanza.errorReply(.serviceUnavailable)
        }
        guard let payload = stanza.iqPayload else {
            return stanza.errorReply(StanzaError(.modify, "bad-request", text: "iq request without a payload"))
        }
        let type = stanza.stanzaType ?? ""
        do {
            switch (type, payload.name, payload.namespace) {
            case ("get", "query", Namespace.discoInfo?):
                return try stanza.iqResult(payload: discoInfo(node: payload[attribute: "node"], domain: context.domain))
            case ("get", "query", Namespace.discoItems?):
                return try stanza.iqResult(payload: discoItems(node: payload[attribute: "node"], domain: context.domain))
            case ("get", "ping", Namespace.ping?):
                return stanza.iqResult()
            case ("set", "command", Namespace.commands?):
                return try await execute(command: payload, in: stanza, context: context)
            default:
                guard let handler = handlers[HandlerKey(type: type, name: payload.name, namespace: payload.namespace)]
                else {
                    return stanza.errorReply(.serviceUnavailable)
                }
                return try await handler.handle(stanza, context: context)
            }
        } catch {
            return stanza.errorReply(error)
        }
    }

    // MARK: Service discovery

    private func discoInfo(node: String?, domain: JID) throws(StanzaError) -> StreamElement {
        var query = StreamElement("query", namespace: Namespace.discoInfo, ["node": node])
        func identity(_ category: String, _ type: String, _ name: String?) {
            query.append(StreamElement("identity", namespace: Namespace.discoInfo, ["category": category, "type": type, "name": name]))
        }
        func feature(_ name: String) {
            query.append(StreamElement("feature", namespace: Namespace.discoInfo, ["var": name]))
        }
        switch node {
        case nil:
            identity(self.identity.category, self.identity.type, self.identity.name)
            features.forEach(feature)
        case Namespace.commands?:
            identity("automation", "command-list", "Commands")
            feature(Namespace.discoInfo)
        case let node? where commands.contains(where: { $0.node == node }):
            identity("automation", "command-node", commands.first { $0.node == node }?.name)
            feature(Namespace.commands)
            feature(Namespace.dataForms)
        default:
            throw .itemNotFound
        }
        return query
    }

    private func discoItems(node: String?, domain: JID) throws(StanzaError) -> StreamElement {
        var query = StreamElement("query", namespace: Namespace.discoItems, ["node": node])
        switch node {
        case nil:
            break
        case Namespace.commands?:
            for command in commands {
                query.append(
                    StreamElement(
                        "item",
                        namespace: Namespace.discoItems,
                        ["jid": domain.description, "node": command.node, "name": command.name]
                    )
                )
            }
        case let node? where commands.contains(where: { $0.node == node }):
            break
        default:
            throw .itemNotFound
        }
        return query
    }

    // MARK: Ad-hoc commands

    private func execute(command element: StreamElement, in stanza: StreamElement, context: ComponentContext) async throws(StanzaError) -> StreamElement {
        guard let node = element[attribute: "node"], let command = commands.first(where: { $0.node == node }) else {
            throw .itemNotFound
        }
        // Commands act on behalf of a user: the server or another component cannot register devices.
        guard let requester = stanza.from, requester.localpart != nil else {
            throw StanzaError(.cancel, "forbidden", text: "commands must come from a user's JID")
        }
        let sessionID = element[attribute: "sessionid"] ?? Self.makeSessionID()
        var response = StreamElement("command", namespace: Namespace.commands, ["node": node, "sessionid": sessionID])
        switch element[attribute: "action"] ?? "execute" {
        case "execute", "complete":
            break
        case "cancel":
            response[attribute: "status"] = "canceled"
            return stanza.iqResult(payload: response)
        case "prev", "next":
            throw StanzaError(.modify, "bad-request", applicationCondition: StreamElement("bad-action", namespace: Namespace.commands))
        default:
            throw StanzaError(.modify, "bad-request", applicationCondition: StreamElement("malformed-action", namespace: Namespace.commands))
        }
        let request = AdHocCommandRequest(requester: requester, form: DataForm.first(in: element), stanza: stanza)
        let result = try await command.execute(request, context: context)
        response[attribute: "status"] = "completed"
        if let note = result.note {
            response.append(.text("note", namespace: Namespace.commands, note.text).with(attribute: "type", note.type.rawValue))
        }
        if let form = result.form { response.append(form.element) }
        return stanza.iqResult(payload: response)
    }

    /// Session ids must be unique and never reused; 64 random bits are plenty for one-shot commands.
    private static func makeSessionID() -> String {
        String(UInt64.random(in: .min ... .max), radix: 36)
    }
}

extension StreamElement {
    fileprivate func with(attribute name: String, _ value: String) -> StreamElement {
        var copy = self
        copy[attribute: name] = value
        return copy
    }
}
