/// Reads one kind of stanza payload straight from the parser's events, in place of an element tree.
///
/// A tree costs an allocation or more per element, attribute and text; the one stanza a busy stream is
/// made of (a push publish) is worth reading into a small value instead. The parser asks its readers at
/// each stanza's first child element; the first that accepts it gets that element and everything inside
/// it, and the stanza comes out as `.read` with the reader's value. Stanzas no reader takes keep the tree.
///
/// A reader belongs to one parser and is reused: `finish()` and `reset()` return it to its initial state.
/// Size and depth limits apply as to any stanza: a stanza over one is skipped and its reader reset.
public protocol StanzaPayloadReader: AnyObject {
    /// Whether to read the payload `name` in `namespace` of `stanza` (its start tag, no children yet).
    func accepts(stanza: StreamElement, payload name: String, namespace: String?) -> Bool
    /// An element starts: the payload itself at depth 0, then the elements inside it.
    func startElement(_ name: String, namespace: String?, attributes: XMLAttributeView, depth: Int)
    /// Character data (entities decoded) inside the element last started at `depth`, in one or more pieces.
    func characters(_ text: UnsafeBufferPointer<UInt8>, depth: Int)
    /// The element started last at `depth` ends.
    func endElement(depth: Int)
    /// What was read, once the stanza ended; the reader is then ready for the next.
    func finish() -> any Hashable & Sendable
    /// Abandons the payload being read (its stanza broke a limit).
    func reset()
}

/// A stanza whose payload a reader read: its start tag (and any children besides the payload) as an
/// element, and the reader's value.
public struct ReadStanza: Sendable, Hashable {
    public var stanza: StreamElement
    public var payload: any Hashable & Sendable
    /// Which of the parser's readers read it (its index in the parser's `readers`).
    public var reader: Int

    public init(stanza: StreamElement, payload: any Hashable & Sendable, reader: Int = 0) {
        self.stanza = stanza
        self.payload = payload
        self.reader = reader
    }

    public static func == (lhs: ReadStanza, rhs: ReadStanza) -> Bool {
        lhs.stanza == rhs.stanza && lhs.reader == rhs.reader && AnyHashable(lhs.payload) == AnyHashable(rhs.payload)
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(stanza)
        hasher.combine(reader)
        hasher.combine(AnyHashable(payload))
    }
}

/// The attributes of an element as libxml2 reports them, read in place: only the values asked for
/// become Strings. Valid only during the `startElement` call it is passed to.
public struct XMLAttributeView {
    // libxml2's SAX2 layout: five pointers per attribute (local name, prefix, URI, value start, value end).
    let base: UnsafeMutablePointer<UnsafePointer<UInt8>?>?
    public let count: Int

    init(base: UnsafeMutablePointer<UnsafePointer<UInt8>?>?, count: Int) {
        self.base = base
        self.count = base == nil ? 0 : count
    }

    /// The value of the unprefixed attribute `name`, with `&amp;` decoded as for tree attributes.
    public subscript(name: String) -> String? {
        rawValue(of: name).map(XMLStreamParser.decodeAttributeValue)
    }

    /// `self[name]`, answered with the shared String when the value is one of `known`.
    public subscript(name: String, known known: KnownStrings) -> String? {
        // A known text has no entity in it, so raw bytes that spell it are its decoded value too.
        rawValue(of: name).map { known.string(for: $0) ?? XMLStreamParser.decodeAttributeValue($0) }
    }

    /// The value's bytes as libxml2 holds them, entities undecoded.
    private func rawValue(of name: String) -> UnsafeBufferPointer<UInt8>? {
        guard let base, count > 0 else { return nil }
        var name = name
        return name.withUTF8 { wanted -> UnsafeBufferPointer<UInt8>? in
            for index in 0..<count {
                let entry = base.advanced(by: index * 5)
                // Attributes in a namespace are never the unprefixed one asked for.
                guard entry[2] == nil, let local = entry[0], let start = entry[3], let end = entry[4] else { continue }
                guard Self.equals(local, wanted) else { continue }
                return UnsafeBufferPointer(start: start, count: end - start)
            }
            return nil
        }
    }

    /// Every attribute, made into values: for readers that need them all (the lookup by name is cheaper).
    public var all: [XMLAttribute] {
        guard let base else { return [] }
        return (0..<count).compactMap { index in
            let entry = base.advanced(by: index * 5)
            guard let local = entry[0], let start = entry[3], let end = entry[4] else { return nil }
            return XMLAttribute(
                name: String(cString: local),
                namespace: entry[2].map { String(cString: $0).replacing("&#38;", with: "&") },
                value: XMLStreamParser.decodeAttributeValue(UnsafeBufferPointer(start: start, count: end - start))
            )
        }
    }

    private static func equals(_ cString: UnsafePointer<UInt8>, _ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        for index in 0..<bytes.count where cString[index] != bytes[index] { return false }
        return cString[bytes.count] == 0
    }
}
