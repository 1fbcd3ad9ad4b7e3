
/// What the stream parser emits: the header once, then one complete tree per top-level stanza (or a
/// skipped stanza that broke a per-stanza limit, or a stanza whose payload a reader read), then the end.
public enum XMLStreamEvent: Sendable, Hashable {
    case streamStart(XMLStreamHeader)
    case stanza(StreamElement)
    case stanzaSkipped(SkippedStanza)
    /// A stanza whose payload a `StanzaPayloadReader` read straight from the parser's events.
    case read(ReadStanza)
    case streamEnd
}
