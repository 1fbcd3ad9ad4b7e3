import XMPPComponent

/// The account a registration belongs to, as every registration path reads it: the bare JID of a user
/// and its domain, so a device counts against the same account whether it registers over XMPP or HTTP.
public enum AccountAddress {
    /// `text` as an account; nil unless it is a user's JID (a local part and a domain).
    public static func parse(_ text: String) -> (account: String, domain: String)? {
        guard let jid = JID(text), jid.localpart != nil else { return nil }
        return (jid.bare.description, jid.domainpart)
    }
}
