import CLibXML2

/// An incremental parser for a never-ending XML stream, built on libxml2's SAX2 push parser.
///
/// Feed it bytes as they arrive, in chunks of any size; it returns the stream header once and each
/// top-level stanza as soon as its end tag has been read. A stanza over the size or depth limit is
/// skipped, not built: its bytes are discarded as they arrive and it comes out as `.stanzaSkipped`
/// with only its routing attributes, so one user's oversized message costs that user, not the stream.
/// XML that is not well-formed or breaks RFC 6120's restricted XML, which a real server never forwards,
/// is an error; after it the parser refuses all further input: such a stream is closed, not repaired.
///
/// Stanzas whose payload one of `readers` accepts are not built as trees: the reader gets the payload's
/// events and the stanza comes out as `.read` (see `StanzaPayloadReader`).
///
/// Not thread-safe: one parser belongs to one connection and is driven from one thread at a time.
public final class XMLStreamParser {
    public struct Limits: Sendable, Hashable {
        /// Deepest nesting of a stanza that is built; the stanza element itself is level 1. Deeper ones are skipped.
        public var maximumDepth: Int
        /// Largest stanza in bytes, measured on the wire, that is built. Larger ones are skipped.
        public var maximumStanzaBytes: Int
        /// Most bytes libxml2 may hold back unparsed, as it does for a tag until its `>` arrives. A stanza
        /// cannot be skipped before its tags end, so beyond this the stream ends. Prosody and ejabberd forward
        /// at most a few megabytes (their stanza limits, re-escaped), so the default is never reached by them.
        public var maximumBufferedBytes: Int
        /// Deepest nesting the parser follows at all, even while skipping: libxml2 keeps a little state per
        /// open element, so an endless run of start tags would otherwise grow without bound.
        public var maximumSkippedDepth: Int

        public init(
            maximumDepth: Int = 64,
            maximumStanzaBytes: Int = 512 * 1024,
            maximumBufferedBytes: Int = 8 * 1024 * 1024,
            maximumSkippedDepth: Int = 200_000
        ) {
            self.maximumDepth = maximumDepth
            self.maximumStanzaBytes = maximumStanzaBytes
            self.maximumBufferedBytes = max(maximumBufferedBytes, maximumStanzaBytes)
            self.maximumSkippedDepth = max(maximumSkippedDepth, maximumDepth)
        }
    }

    public let limits: Limits
    private let readers: [any StanzaPayloadReader]
    /// The reader of the current stanza's payload, and the depth of that payload's element while it is
    /// open (0 once it ended: later children of the stanza are built into its element as usual).
    private var stanzaReader: (any StanzaPayloadReader)?
    private var stanzaReaderIndex = 0
    private var readerDepth = 0

    private var context: xmlParserCtxtPtr?
    private var events: [XMLStreamEvent] = []
    private var failure: XMLStreamError?
    private var lastLibraryMessage: String?
    /// Open elements below the stream root; the innermost last.
    private var openElements: [StreamElement] = []
    /// Character data of the innermost open element not yet added to it. libxml2 reports text in pieces
    /// (one per entity reference), so pieces are collected here and made into one String when the
    /// element gets a child or ends: building text stays linear in its length.
    private var pendingText: [UInt8] = []
    /// Set while the current stanza is being skipped: its routing attributes and the limit it broke.
    private var skipped: SkippedStanza?
    // Asked on every SAX event. `skipped == nil` compared two `SkippedStanza?` as Equatable values,
    // copying each (a few percent of a publish's parse); a pattern only reads the case.
    private var isSkipping: Bool { if case .some = skipped { true } else { false } }
    private var hasFailed: Bool { if case .some = failure { true } else { false } }
    /// Bytes of character data copied while building text, and the callbacks that delivered them: the
    /// parser's work on text, which tests hold to linear.
    private(set) var textBytesCopied = 0
    private(set) var textCallbacks = 0
    /// Element and attribute names already made into Strings, by the address libxml2 hands them at.
    private var internedNames = InternedStrings(slotCount: 512)
    /// Namespace URIs the same way, kept decoded: libxml2 hands URIs back with `&amp;` left as `&#38;`,
    /// as it does attribute values (found by fuzzing).
    private var internedNamespaces = InternedStrings(slotCount: 128) { raw in
        raw.utf8.contains(0x26) ? raw.replacing("&#38;", with: "&") : raw
    }
    private var depth = 0
    private var bytesFed = 0
    private var stanzaStartOffset = 0

    /// Feeding libxml2 in slices bounds how much it can buffer before the size limits are checked.
    private static let sliceBytes = 64 * 1024

    private static let libraryInitialized: Bool = {
        xmlInitParser()
        return true
    }()

    public init(limits: Limits = Limits(), readers: [any StanzaPayloadReader] = []) {
        precondition(Self.libraryInitialized)
        self.limits = limits
        self.readers = readers
        var handler = Self.makeSAXHandler()
        context = xmlCreatePushParserCtxt(&handler, Unmanaged.passUnretained(self).toOpaque(), nil, 0, nil)
        if let context {
            // Never fetch anything from the network; entity substitution and DTD loading stay off.
            // XML_PARSE_HUGE lifts libxml2's own depth limit (256), which would end the stream for a
            // stanza this parser can skip; maximumSkippedDepth and maximumBufferedBytes bound it instead.
            xmlCtxtUseOptions(context, Int32(XML_PARSE_NONET.rawValue | XML_PARSE_HUGE.rawValue))
        }
    }

    deinit {
        if let context { xmlFreeParserCtxt(context) }
    }

    /// Parses the next bytes of the stream and returns what they completed.
    public func feed(_ bytes: UnsafeRawBufferPointer) throws(XMLStreamError) -> [XMLStreamEvent] {
        if let failure { throw failure }
        guard let context else { throw .notWellFormed("parser could not be created") }
        var offset = 0
        while offset < bytes.count {
            let length = min(Self.sliceBytes, bytes.count - offset)
            let slice = bytes.baseAddress!.advanced(by: offset).assumingMemoryBound(to: CChar.self)
            bytesFed += length
            offset += length
            let status = xmlParseChunk(context, slice, Int32(length), 0)
            if !hasFailed, status != 0 {
                failure = .notWellFormed(lastLibraryMessage ?? "parser error \(status)")
            }
            if !hasFailed { checkBufferedSize() }
            if let failure {
                events.removeAll()
                throw failure
            }
        }
        defer { events.removeAll(keepingCapacity: true) }
        return events
    }

    public func feed(_ bytes: some Sequence<UInt8>) throws(XMLStreamError) -> [XMLStreamEvent] {
        let array = Array(bytes)
        do {
            return try array.withUnsafeBytes { buffer in try self.feed(buffer) }
        } catch let error as XMLStreamError {
            throw error
        } catch {
            preconditionFailure("feed throws only XMLStreamError")
        }
    }

    // MARK: Limits

    private var consumedOffset: Int { context.map { Int(xmlByteConsumed($0)) } ?? 0 }

    /// Checks what libxml2 holds back without a callback: an unfinished tag, or the unread rest of a stanza.
    private func checkBufferedSize() {
        if bytesFed - consumedOffset > limits.maximumBufferedBytes {
            return fail(.tooLarge(limit: limits.maximumBufferedBytes))
        }
        if depth >= 2, !isSkipping, bytesFed - stanzaStartOffset > limits.maximumStanzaBytes {
            skipStanza(.tooLarge(limit: limits.maximumStanzaBytes))
        }
    }

    private func checkStanzaSize() {
        guard depth >= 2, !isSkipping, consumedOffset - stanzaStartOffset > limits.maximumStanzaBytes else { return }
        skipStanza(.tooLarge(limit: limits.maximumStanzaBytes))
    }

    /// Drops what was built of the current stanza and discards the rest of it as it arrives.
    private func skipStanza(_ reason: StanzaLimit) {
        guard !isSkipping, let stanza = openElements.first else { return }
        var routing = StreamElement(stanza.name, namespace: stanza.namespace)
        routing.attributes = stanza.attributes.filter { Self.routingAttributes.contains($0.name) && $0.namespace == nil }
        skipped = SkippedStanza(element: routing, reason: reason)
        openElements.removeAll()
        pendingText.removeAll()
        stanzaReader?.reset()
        stanzaReader = nil
        readerDepth = 0
    }

    /// What a reply to a skipped stanza needs; the rest of the start tag is dropped with its content.
    private static let routingAttributes: Set<String> = ["id", "type", "from", "to"]

    private func fail(_ error: XMLStreamError) {
        guard !hasFailed else { return }
        failure = error
        if let context { xmlStopParser(context) }
    }

    // MARK: SAX events

    fileprivate func startElement(
        localName: String,
        prefix: UnsafePointer<xmlChar>?,
        namespace: String?,
        namespaceCount: Int,
        namespaces: UnsafeMutablePointer<UnsafePointer<xmlChar>?>?,
        attributeCount: Int,
        attributes: UnsafeMutablePointer<UnsafePointer<xmlChar>?>?
    ) {
        guard !hasFailed else { return }
        if let prefix, namespace == nil {
            return fail(.unboundPrefix(String(cString: prefix)))
        }
        if isSkipping {
            depth += 1
            if depth - 1 > limits.maximumSkippedDepth { fail(.tooDeep(limit: limits.maximumSkippedDepth)) }
            return
        }
        if readerDepth > 0 || (depth == 2 && !readers.isEmpty && stanzaReader == nil && isAtFirstChild) {
            return startReadElement(localName, namespace: namespace, attributeCount: attributeCount, attributes: attributes)
        }
        var element = StreamElement(localName, namespace: namespace)
        if let attributes, attributeCount > 0 {
            element.attributes.reserveCapacity(attributeCount)
            for index in 0..<attributeCount {
                let base = attributes.advanced(by: index * 5)
                let attributeNamespace = base[2].map { internedNamespace($0) }
                if let attributePrefix = base[1], attributeNamespace == nil {
                    return fail(.unboundPrefix(String(cString: attributePrefix)))
                }
                guard let name = base[0], let start = base[3], let end = base[4] else { continue }
                element.attributes.append(
                    XMLAttribute(
                        name: internedName(name),
                        namespace: attributeNamespace,
                        value: Self.decodeAttributeValue(UnsafeBufferPointer(start: start, count: end - start))
                    )
                )
            }
        }
        depth += 1
        if depth == 1 {
            var defaultNamespace: String?
            if let namespaces {
                for index in 0..<namespaceCount where namespaces[index * 2] == nil {
                    defaultNamespace = namespaces[index * 2 + 1].map { internedNamespace($0) }
                }
            }
            events.append(.streamStart(XMLStreamHeader(element: element, defaultNamespace: defaultNamespace)))
            lastStanzaEndOffset = consumedOffset
            return
        }
        if depth == 2 {
            // libxml2 reports the start tag only once it is complete, so a stanza is measured from where
            // the previous stanza (or whitespace keepalive) ended.
            stanzaStartOffset = lastStanzaEndOffset
        }
        flushPendingText()
        openElements.append(element)
        if depth - 1 > limits.maximumDepth {
            return skipStanza(.tooDeep(limit: limits.maximumDepth))
        }
        checkStanzaSize()
    }

    /// Whether the stanza has no child element yet: the next element would be its payload.
    private var isAtFirstChild: Bool {
        guard openElements.count == 1 else { return false }
        return !openElements[0].children.contains { if case .element = $0 { true } else { false } }
    }

    /// An element of a payload a reader reads, or the payload itself if a reader accepts it (otherwise it
    /// is built as usual).
    private func startReadElement(
        _ localName: String, namespace: String?, attributeCount: Int, attributes: UnsafeMutablePointer<UnsafePointer<xmlChar>?>?
    ) {
        if let attributes {
            for index in 0..<attributeCount where attributes[index * 5 + 1] != nil && attributes[index * 5 + 2] == nil {
                return fail(.unboundPrefix(String(cString: attributes[index * 5 + 1]!)))
            }
        }
        let view = XMLAttributeView(base: attributes, count: attributeCount)
        if readerDepth == 0 {
            guard let index = readers.firstIndex(where: { $0.accepts(stanza: openElements[0], payload: localName, namespace: namespace) }) else {
                return buildElement(localName, namespace: namespace, attributeCount: attributeCount, attributes: attributes)
            }
            let reader = readers[index]
            flushPendingText()
            depth += 1
            stanzaReader = reader
            stanzaReaderIndex = index
            readerDepth = depth
            reader.startElement(localName, namespace: namespace, attributes: view, depth: 0)
        } else {
            depth += 1
            if depth - 1 > limits.maximumDepth { return skipStanza(.tooDeep(limit: limits.maximumDepth)) }
            stanzaReader?.startElement(localName, namespace: namespace, attributes: view, depth: depth - readerDepth)
        }
        checkStanzaSize()
    }

    /// The tree path for an element that the reader path looked at and declined.
    private func buildElement(
        _ localName: String, namespace: String?, attributeCount: Int, attributes: UnsafeMutablePointer<UnsafePointer<xmlChar>?>?
    ) {
        var element = StreamElement(localName, namespace: namespace)
        if let attributes, attributeCount > 0 {
            element.attributes.reserveCapacity(attributeCount)
            for index in 0..<attributeCount {
                let base = attributes.advanced(by: index * 5)
                guard let name = base[0], let start = base[3], let end = base[4] else { continue }
                element.attributes.append(
                    XMLAttribute(
                        name: internedName(name),
                        namespace: base[2].map { internedNamespace($0) },
                        value: Self.decodeAttributeValue(UnsafeBufferPointer(start: start, count: end - start))
                    )
                )
            }
        }
        depth += 1
        flushPendingText()
        openElements.append(element)
        if depth - 1 > limits.maximumDepth { return skipStanza(.tooDeep(limit: limits.maximumDepth)) }
        checkStanzaSize()
    }

    private var lastStanzaEndOffset = 0

    fileprivate func endElement() {
        guard !hasFailed else { return }
        defer { depth -= 1 }
        if depth == 1 {
            events.append(.streamEnd)
            return
        }
        if !isSkipping, readerDepth > 0 {
            stanzaReader?.endElement(depth: depth - readerDepth)
            if depth == readerDepth { readerDepth = 0 }
            checkStanzaSize()
            return
        }
        if !isSkipping {
            flushPendingText()
            if openElements.count > 1 {
                let element = openElements.removeLast()
                openElements[openElements.count - 1].append(element)
                return
            }
            checkStanzaSize()
        }
        guard depth == 2, !hasFailed else { return }
        lastStanzaEndOffset = consumedOffset
        if let skip = skipped {
            skipped = nil
            events.append(.stanzaSkipped(skip))
        } else if let stanza = openElements.popLast() {
            if let reader = stanzaReader {
                stanzaReader = nil
                events.append(.read(ReadStanza(stanza: stanza, payload: reader.finish(), reader: stanzaReaderIndex)))
            } else {
                events.append(.stanza(stanza))
            }
        }
    }

    private func flushPendingText() {
        guard !pendingText.isEmpty, !openElements.isEmpty else { return }
        openElements[openElements.count - 1].append(text: String(decoding: pendingText, as: UTF8.self))
        textBytesCopied += pendingText.count
        pendingText.removeAll(keepingCapacity: pendingText.capacity <= 64 * 1024)
    }

    fileprivate func characters(_ pointer: UnsafePointer<xmlChar>, count: Int) {
        guard !hasFailed, count > 0, !isSkipping || depth < 2 else { return }
        if readerDepth > 0 {
            stanzaReader?.characters(UnsafeBufferPointer(start: pointer, count: count), depth: depth - readerDepth)
            checkStanzaSize()
            return
        }
        if openElements.isEmpty {
            // Between stanzas only whitespace is allowed (keepalives); the stream root holds no text.
            let buffer = UnsafeBufferPointer(start: pointer, count: count)
            if buffer.contains(where: { $0 != 0x20 && $0 != 0x09 && $0 != 0x0A && $0 != 0x0D }) {
                fail(.textOutsideStanza)
            }
            lastStanzaEndOffset = consumedOffset
            return
        }
        pendingText.append(contentsOf: UnsafeBufferPointer(start: pointer, count: count))
        textBytesCopied += count
        textCallbacks += 1
        checkStanzaSize()
    }

    fileprivate func refuse(_ what: String) {
        fail(.restrictedXML(what))
    }

    fileprivate func recordLibraryError(_ message: String) {
        if lastLibraryMessage == nil { lastLibraryMessage = message }
    }

    fileprivate func internedName(_ pointer: UnsafePointer<xmlChar>) -> String {
        internedNames.string(at: pointer)
    }

    fileprivate func internedNamespace(_ pointer: UnsafePointer<xmlChar>) -> String {
        internedNamespaces.string(at: pointer)
    }

    /// libxml2's SAX2 push mode hands attribute values back with `&amp;` left as the character
    /// reference `&#38;`; every other reference arrives decoded.
    static func decodeAttributeValue(_ bytes: UnsafeBufferPointer<xmlChar>) -> String {
        // Most values hold no '&' at all: skip the substring search for them (it was a tenth of the
        // parser's time on publish stanzas).
        guard bytes.contains(0x26) else { return String(decoding: bytes, as: UTF8.self) }
        return String(decoding: bytes, as: UTF8.self).replacing("&#38;", with: "&")
    }

    // MARK: libxml2 wiring

    private static func makeSAXHandler() -> xmlSAXHandler {
        var handler = xmlSAXHandler()
        handler.initialized = UInt32(XML_SAX2_MAGIC)
        handler.startElementNs = { context, localName, prefix, uri, namespaceCount, namespaces, attributeCount, _, attributes in
            let parser = streamParser(context)
            parser.startElement(
                localName: localName.map { parser.internedName($0) } ?? "",
                prefix: prefix,
                namespace: uri.map { parser.internedNamespace($0) },
                namespaceCount: Int(namespaceCount),
                namespaces: namespaces,
                attributeCount: Int(attributeCount),
                attributes: attributes
            )
        }
        handler.endElementNs = { context, _, _, _ in streamParser(context).endElement() }
        handler.characters = { context, pointer, length in
            if let pointer { streamParser(context).characters(pointer, count: Int(length)) }
        }
        handler.ignorableWhitespace = handler.characters
        handler.cdataBlock = { context, pointer, length in
            if let pointer { streamParser(context).characters(pointer, count: Int(length)) }
        }
        // RFC 6120 §11.1: no DTDs, entity declarations, comments or processing instructions.
        handler.internalSubset = { context, _, _, _ in streamParser(context).refuse("document type declaration") }
        handler.externalSubset = { context, _, _, _ in streamParser(context).refuse("external subset") }
        handler.entityDecl = { context, _, _, _, _, _ in streamParser(context).refuse("entity declaration") }
        handler.unparsedEntityDecl = { context, _, _, _, _ in streamParser(context).refuse("entity declaration") }
        handler.notationDecl = { context, _, _, _ in streamParser(context).refuse("notation declaration") }
        handler.elementDecl = { context, _, _, _ in streamParser(context).refuse("element declaration") }
        handler.attributeDecl = { context, _, _, _, _, _, _ in streamParser(context).refuse("attribute declaration") }
        handler.reference = { context, _ in streamParser(context).refuse("entity reference") }
        handler.comment = { context, _ in streamParser(context).refuse("comment") }
        handler.processingInstruction = { context, _, _ in streamParser(context).refuse("processing instruction") }
        // Structured errors replace libxml2's default of printing to stderr.
        handler.serror = { context, error in
            guard let context, let error, let message = error.pointee.message else { return }
            let text = String(cString: message).filter { $0 != "\n" }
            streamParser(context).recordLibraryError(text)
        }
        return handler
    }
}


/// The parser behind a SAX callback's context pointer (set at creation, valid for the parser's lifetime).
private func streamParser(_ context: UnsafeMutableRawPointer?) -> XMLStreamParser {
    Unmanaged<XMLStreamParser>.fromOpaque(context!).takeUnretainedValue()
}
