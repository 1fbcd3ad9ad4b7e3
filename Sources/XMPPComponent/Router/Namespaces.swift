/// XML namespaces the component speaks.
public enum Namespace {
    public static let discoInfo = "http://jabber.org/protocol/disco#info"
    public static let discoItems = "http://jabber.org/protocol/disco#items"
    public static let ping = "urn:xmpp:ping"
    public static let commands = "http://jabber.org/protocol/commands"
    public static let dataForms = "jabber:x:data"
    public static let pubsub = "http://jabber.org/protocol/pubsub"
}
