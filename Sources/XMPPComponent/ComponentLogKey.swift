/// Logger metadata keys of the component library, defined once so every line names things the same way.
public enum ComponentLogKey {
    public static let componentDomain = "xmpp.component.domain"
    public static let serverAddress = "xmpp.server.address"
    public static let streamCondition = "xmpp.stream.condition"
    public static let streamErrorText = "xmpp.stream.text"
    public static let stanzaID = "xmpp.stanza.id"
    public static let stanzaKind = "xmpp.stanza.kind"
    public static let reason = "reason"
    public static let attempt = "attempt"
    public static let delaySeconds = "delay.seconds"
    public static let requests = "requests"
}
