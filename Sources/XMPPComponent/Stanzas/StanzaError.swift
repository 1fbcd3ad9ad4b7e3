import XMLStream

/// A stanza error (RFC 6120 §8.3): the type tells the sender what to do, the condition says why.
public struct StanzaError: Error, Sendable, Hashable {
    public enum ErrorType: String, Sendable, Hashable {
        case auth, cancel, `continue`, modify, wait
    }

    public static let namespace = "urn:ietf:params:xml:ns:xmpp-stanzas"

    public var type: ErrorType
    public var condition: String
    public var text: String?
    /// An application-specific condition element, e.g. XEP-0050's `<bad-payload/>`.
    public var applicationCondition: StreamElement?

    public init(_ type: ErrorType, _ condition: String, text: String? = nil, applicationCondition: StreamElement? = nil) {
        self.type = type
        self.condition = condition
        self.text = text
        self.applicationCondition = applicationCondition
    }

    public static let serviceUnavailable = StanzaError(.cancel, "service-unavailable")
    public static let itemNotFound = StanzaError(.cancel, "item-not-found")
    public static let forbidden = StanzaError(.auth, "forbidden")
    public static let badRequest = StanzaError(.modify, "bad-request")
    public static let featureNotImplemented = StanzaError(.cancel, "feature-not-implemented")
    public static let internalServerError = StanzaError(.wait, "internal-server-error")
    public static let resourceConstraint = StanzaError(.wait, "resource-constraint")
    public static let notAllowed = StanzaError(.cancel, "not-allowed")

    /// The answer to an iq request that broke a per-stanza limit: the sender may retry with a smaller one.
    public static func policyViolation(_ text: String) -> StanzaError {
        StanzaError(.modify, "policy-violation", text: text)
    }

    /// The `<error/>` child of an error stanza.
    public var element: StreamElement {
        // In the stanza's own namespace: without it the serializer would write xmlns='' and servers would not
        // find the error at all.
        var error = StreamElement("error", namespace: Stanza.componentNamespace, ["type": type.rawValue])
        error.append(StreamElement(condition, namespace: Self.namespace))
        if let text {
            error.append(.text("text", namespace: Self.namespace, text))
        }
        if let applicationCondition { error.append(applicationCondition) }
        return error
    }

    /// Reads the `<error/>` child of an error stanza.
    public init?(stanza: StreamElement) {
        guard let error = stanza.child("error"), let type = error[attribute: "type"].flatMap(ErrorType.init) else {
            return nil
        }
        let condition = error.elements.first { $0.namespace == Self.namespace && $0.name != "text" }
        self.init(
            type,
            condition?.name ?? "undefined-condition",
            text: error.child("text", namespace: Self.namespace)?.text,
            applicationCondition: error.elements.first { $0.namespace != Self.namespace }
        )
    }
}
