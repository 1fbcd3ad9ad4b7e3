import CLibXML2

/// An incremental parser for a never-ending XML stream, built on libxml2's SAX2 push parser.
///
/// Feed it bytes as they arrive, in chunks of any size; it returns the stream header once and each
/// top-level stanza as soon as its end tag has been read. It enforces RFC 6120's restricted XML and the
/// configured limits and, after the first error, refuses all further input: a stream that broke the rules
/// is closed, not repaired.
///
/// Not thread-safe: one parser belongs to one connection and is driven from one thread at a time.
public final class XMLStreamParser {
    public struct Limits: Sendable, Hashable {
        /// Deepest nesting allowed inside a stanza; the stanza element itself is level 1.
        public var maximumDepth: Int
        /// Largest stanza in bytes, measured on the wire.
        public var maximumStanzaBytes: Int

        public init(maximumDepth: Int = 64, maximumStanzaBytes: Int = 512 * 1024) {
            self.maximumDepth = maximumDepth
            self.maximumStanzaBytes = maximumStanzaBytes
        }
    }

    public let limits: Limits

    private var context: xmlParserCtxtPtr?
    private var events: [XMLStreamEvent] = []
    private var failure: XMLStreamError?
    private var lastLibraryMessage: String?
    /// Open elements below the stream root; the innermost last.
    private var openElements: [XMLElement] = []
    /// Element names and namespace URIs already made into Strings, by the address libxml2 hands them
    /// at (its dictionary keeps one copy of each): a stanza repeats the same few dozen names.
    private var internedNames: [UnsafeRawPointer: String] = [:]
    private var depth = 0
    private var bytesFed = 0
    private var stanzaStartOffset = 0

    /// Feeding libxml2 in slices bounds how much it can buffer before the size limits are checked.
    private static let sliceBytes = 64 * 1024

    private static let libraryInitialized: Bool = {
        xmlInitParser()
        return true
    }()

    public init(limits: Limits = Limits()) {
        precondition(Self.libraryInitialized)
        self.limits = limits
        var handler = Self.makeSAXHandler()
        context = xmlCreatePushParserCtxt(&handler, Unmanaged.passUnretained(self).toOpaque(), nil, 0, nil)
        if let context {
            // Never fetch anything from the network; entity substitution and DTD loading stay off.
            xmlCtxtUseOptions(context, Int32(XML_PARSE_NONET.rawValue))
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
            if failure == nil, status != 0 {
                failure = .notWellFormed(lastLibraryMessage ?? "parser error \(status)")
            }
            if failure == nil { checkBufferedSize() }
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

    /// Catches input that libxml2 holds back without a callback, such as an endless start tag.
    private func checkBufferedSize() {
        let pending = depth >= 2 ? bytesFed - stanzaStartOffset : bytesFed - consumedOffset
        if pending > limits.maximumStanzaBytes { fail(.tooLarge(limit: limits.maximumStanzaBytes)) }
    }

    private func checkStanzaSize() {
        guard depth >= 2, consumedOffset - stanzaStartOffset > limits.maximumStanzaBytes else { return }
        fail(.tooLarge(limit: limits.maximumStanzaBytes))
    }

    private func fail(_ error: XMLStreamError) {
        guard failure == nil else { return }
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
        guard failure == nil else { return }
        if let prefix, namespace == nil {
            return fail(.unboundPrefix(String(cString: prefix)))
        }
        var element = XMLElement(localName, namespace: namespace)
        if let attributes, attributeCount > 0 {
            element.attributes.reserveCapacity(attributeCount)
            for index in 0..<attributeCount {
                let base = attributes.advanced(by: index * 5)
                let attributeNamespace = base[2].map { internedName($0) }
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
                    defaultNamespace = namespaces[index * 2 + 1].map { String(cString: $0) }
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
        if depth - 1 > limits.maximumDepth {
            return fail(.tooDeep(limit: limits.maximumDepth))
        }
        openElements.append(element)
        checkStanzaSize()
    }

    private var lastStanzaEndOffset = 0

    fileprivate func endElement() {
        guard failure == nil else { return }
        defer { depth -= 1 }
        if depth == 1 {
            events.append(.streamEnd)
            return
        }
        guard let element = openElements.popLast() else { return }
        if openElements.isEmpty {
            checkStanzaSize()
            lastStanzaEndOffset = consumedOffset
            if failure == nil { events.append(.stanza(element)) }
        } else {
            openElements[openElements.count - 1].append(element)
        }
    }

    fileprivate func characters(_ pointer: UnsafePointer<xmlChar>, count: Int) {
        guard failure == nil, count > 0 else { return }
        if openElements.isEmpty {
            // Between stanzas only whitespace is allowed (keepalives); the stream root holds no text.
            let buffer = UnsafeBufferPointer(start: pointer, count: count)
            if buffer.contains(where: { $0 != 0x20 && $0 != 0x09 && $0 != 0x0A && $0 != 0x0D }) {
                fail(.textOutsideStanza)
            }
            lastStanzaEndOffset = consumedOffset
            return
        }
        let text = String(decoding: UnsafeBufferPointer(start: pointer, count: count), as: UTF8.self)
        openElements[openElements.count - 1].append(text: text)
        checkStanzaSize()
    }

    fileprivate func refuse(_ what: String) {
        fail(.restrictedXML(what))
    }

    fileprivate func recordLibraryError(_ message: String) {
        if lastLibraryMessage == nil { lastLibraryMessage = message }
    }

    /// libxml2's SAX2 push mode hands attribute values back with `&amp;` left as the character
    /// reference `&#38;`; every other reference arrives decoded.
    /// The String for a name or URI from libxml2, made once per distinct one. The bytes are compared
    /// again on every hit, so a pointer that libxml2 reused for other text is never mistaken for a hit.
    fileprivate func internedName(_ pointer: UnsafePointer<xmlChar>) -> String {
        let length = Int(xmlStrlen(pointer))
        let bytes = UnsafeBufferPointer(start: pointer, count: length)
        if let known = internedNames[UnsafeRawPointer(pointer)], known.utf8.elementsEqual(bytes) { return known }
        let name = String(decoding: bytes, as: UTF8.self)
        if internedNames.count >= 4096 { internedNames.removeAll(keepingCapacity: true) }
        internedNames[UnsafeRawPointer(pointer)] = name
        return name
    }

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
                namespace: uri.map { parser.internedName($0) },
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
