import XMLStream

/// A stream error (RFC 6120 §4.9): the peer is closing the whole stream.
public struct StreamError: Error, Sendable, Hashable, CustomStringConvertible {
    public static let namespace = "urn:ietf:params:xml:ns:xmpp-streams"
    public static let streamNamespace = "http://etherx.jabber.org/streams"

    /// The defined condition, e.g. `not-authorized`, `conflict`, `host-unknown`.
    public var condition: String
    public var text: String?

    public init(condition: String, text: String? = nil) {
        self.condition = condition
        self.text = text
    }

    public init?(element: StreamElement) {
        guard element.name == "error", element.namespace == Self.streamNamespace else { return nil }
        let condition = element.elements.first { $0.namespace == Self.namespace && $0.name != "text" }
        self.init(
            condition: condition?.name ?? "undefined-condition",
            text: element.child("text", namespace: Self.namespace)?.text
        )
    }

    /// The error element and the closing tag, ready to write.
    public var serializedWithClose: String {
        var xml = "<stream:error><\(condition) xmlns='\(Self.namespace)'/>"
        if let text {
            var escaped = ""
            XMLSerializer.escapeText(text, into: &escaped)
            xml += "<text xmlns='\(Self.namespace)'>\(escaped)</text>"
        }
        return xml + "</stream:error></stream:stream>"
    }

    public var description: String {
        text.map { "\(condition) (\($0))" } ?? condition
    }
}
