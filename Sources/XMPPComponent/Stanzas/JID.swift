/// An XMPP address (RFC 7622): `localpart@domainpart/resourcepart`, the first and last optional.
///
/// Validation is deliberately structural (lengths, separators, forbidden localpart characters) rather
/// than full PRECIS; the domain part is lowercased because servers compare it case-insensitively.
public struct JID: Sendable, Hashable, CustomStringConvertible {
    public let localpart: String?
    public let domainpart: String
    public let resourcepart: String?

    private static let forbiddenInLocalpart: Set<Character> = ["\"", "&", "'", "/", ":", "<", ">", "@", " "]

    public init?(_ string: some StringProtocol) {
        let text = String(string)
        // '/' and '@' are ASCII: found among the UTF-8 bytes, whose indexes are valid String indexes there.
        let slash = text.utf8.firstIndex(of: UInt8(ascii: "/"))
        let addressPart = slash.map { text[..<$0] } ?? Substring(text)
        let resource = slash.map { String(text[text.utf8.index(after: $0)...]) }
        let at = addressPart.utf8.firstIndex(of: UInt8(ascii: "@"))
        let local = at.map { String(addressPart[..<$0]) }
        let domain = JID.lowercase(String(at.map { addressPart[addressPart.utf8.index(after: $0)...] } ?? addressPart))
        guard JID.isValidDomain(domain) else { return nil }
        if let local {
            guard !local.isEmpty, local.utf8.count <= 1023,
                !local.contains(where: JID.forbiddenInLocalpart.contains)
            else { return nil }
        }
        if let resource {
            guard !resource.isEmpty, resource.utf8.count <= 1023 else { return nil }
        }
        self.localpart = local
        self.domainpart = domain
        self.resourcepart = resource
    }

    public init(localpart: String? = nil, domain: String, resource: String? = nil) {
        self.localpart = localpart
        self.domainpart = JID.lowercase(domain)
        self.resourcepart = resource
    }

    /// Domains arrive lowercase almost always; lowercasing only when needed keeps parsing cheap.
    private static func lowercase(_ domain: String) -> String {
        domain.utf8.contains { $0 >= 0x41 && $0 <= 0x5A } || !domain.utf8.allSatisfy { $0 < 0x80 } ? domain.lowercased() : domain
    }

    private static func isValidDomain(_ domain: String) -> Bool {
        guard !domain.isEmpty, domain.utf8.count <= 1023, !domain.hasPrefix("."), !domain.hasSuffix(".") else {
            return false
        }
        // ASCII domains (nearly all) are checked byte by byte; Character's Unicode properties only for the rest.
        if domain.utf8.allSatisfy({ $0 < 0x80 }) {
            return !domain.utf8.contains { byte in
                byte == 0x40 || byte == 0x2F || byte == 0x3C || byte == 0x3E || byte == 0x20 || (0x09...0x0D).contains(byte)
            }
        }
        return !domain.contains { $0 == "@" || $0 == "/" || $0.isWhitespace || $0 == "<" || $0 == ">" }
    }

    /// The address without its resource.
    public var bare: JID { JID(localpart: localpart, domain: domainpart) }
    public var domain: JID { JID(domain: domainpart) }
    public var isBare: Bool { resourcepart == nil }
    /// A server or component address: no localpart and no resource.
    public var isDomain: Bool { localpart == nil && resourcepart == nil }

    public var description: String {
        var result = localpart.map { $0 + "@" } ?? ""
        result += domainpart
        if let resourcepart { result += "/" + resourcepart }
        return result
    }
}
