
/// What the stream parser emits: the header once, then one complete tree per top-level stanza (or a
/// skipped stanza that broke a per-stanza limit), then the end.
public enum XMLStreamEvent: Sendable, Hashable {
    case streamStart(XMLStreamHeader)
    case stanza(StreamElement)
    case stanzaSkipped(SkippedStanza)
    case streamEnd
}
