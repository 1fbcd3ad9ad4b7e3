/// Why the stream parser refused its input. Each maps to one RFC 6120 stream error condition.
public enum XMLStreamError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The bytes are not well-formed XML (libxml2's message is kept for the log).
    case notWellFormed(String)
    /// Well-formed but outside RFC 6120's restricted XML: DTDs, entities, comments, processing instructions.
    case restrictedXML(String)
    /// An element or attribute uses a prefix that no namespace declaration binds.
    case unboundPrefix(String)
    /// Nesting deeper than even a skipped stanza may go (`maximumSkippedDepth`).
    case tooDeep(limit: Int)
    /// More input than libxml2 may hold back unparsed (`maximumBufferedBytes`), such as an endless tag.
    case tooLarge(limit: Int)
    /// Non-whitespace character data between stanzas.
    case textOutsideStanza

    /// The RFC 6120 §4.9.3 stream error condition to send before closing.
    public var streamErrorCondition: String {
        switch self {
        case .notWellFormed, .unboundPrefix: "not-well-formed"
        case .restrictedXML: "restricted-xml"
        case .tooDeep, .tooLarge: "policy-violation"
        case .textOutsideStanza: "bad-format"
        }
    }

    public var description: String {
        switch self {
        case .notWellFormed(let message): "XML is not well-formed: \(message)"
        case .restrictedXML(let what): "restricted XML refused: \(what)"
        case .unboundPrefix(let prefix): "namespace prefix '\(prefix)' is not bound"
        case .tooDeep(let limit): "nesting deeper than \(limit) levels, even to skip"
        case .tooLarge(let limit): "more than \(limit) bytes in one unfinished tag"
        case .textOutsideStanza: "character data between stanzas"
        }
    }
}
