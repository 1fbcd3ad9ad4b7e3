import Testing

@testable import XMLStream

private let streamOpen = """
    <?xml version='1.0'?><stream:stream xmlns:stream='http://etherx.jabber.org/streams' \
    xmlns='jabber:component:accept' from='push.example.com' id='d3b07384-d9a'>
    """

/// Records what `look` reads from each element's attributes.
private final class AttributeProbe: StanzaPayloadReader {
    private let look: (XMLAttributeView) -> [String?]
    var seen: [String?] = []
    init(_ look: @escaping (XMLAttributeView) -> [String?]) { self.look = look }
    func accepts(stanza: StreamElement, payload name: String, namespace: String?) -> Bool { true }
    func startElement(_ name: String, namespace: String?, attributes: XMLAttributeView, depth: Int) { seen += look(attributes) }
    func characters(_ text: UnsafeBufferPointer<UInt8>, depth: Int) {}
    func endElement(depth: Int) {}
    func finish() -> any Hashable & Sendable { 0 }
    func reset() {}
}

/// Rebuilds the payload it reads as an element tree, so that what a reader is handed can be held to the
/// tree the parser builds without readers.
private final class RebuildingReader: StanzaPayloadReader {
    let payloadName: String
    private var open: [StreamElement] = []
    private var built: StreamElement?
    private(set) var resets = 0

    init(payloadName: String) {
        self.payloadName = payloadName
    }

    func accepts(stanza: StreamElement, payload name: String, namespace: String?) -> Bool {
        stanza.name == "iq" && name == payloadName
    }

    func startElement(_ name: String, namespace: String?, attributes: XMLAttributeView, depth: Int) {
        #expect(depth == open.count, "depth counts from the payload")
        open.append(StreamElement(name, namespace: namespace, attributes: attributes.all))
    }

    func characters(_ text: UnsafeBufferPointer<UInt8>, depth: Int) {
        #expect(depth == open.count - 1, "text belongs to the element open last")
        open[open.count - 1].append(text: String(decoding: text, as: UTF8.self))
    }

    func endElement(depth: Int) {
        #expect(depth == open.count - 1)
        let element = open.removeLast()
        if open.isEmpty { built = element } else { open[open.count - 1].append(element) }
    }

    func finish() -> any Hashable & Sendable {
        defer { built = nil }
        return built ?? StreamElement("nothing")
    }

    func reset() {
        open = []
        built = nil
        resets += 1
    }
}

private func events(_ input: String, chunk: Int, readers: [any StanzaPayloadReader], limits: XMLStreamParser.Limits = .init()) throws -> [XMLStreamEvent] {
    let parser = XMLStreamParser(limits: limits, readers: readers)
    let bytes = Array(input.utf8)
    var events: [XMLStreamEvent] = []
    var offset = 0
    while offset < bytes.count {
        let length = min(chunk, bytes.count - offset)
        events += try parser.feed(bytes[offset..<offset + length])
        offset += length
    }
    return events
}

/// The events of a parser without readers, with each stanza a reader would have taken turned into the
/// `.read` that reader must produce: its payload (the first child) split off as the value.
private func expected(_ treeEvents: [XMLStreamEvent], payloadName: String) -> [XMLStreamEvent] {
    treeEvents.map { event in
        guard case .stanza(var stanza) = event, stanza.name == "iq",
            let index = stanza.children.firstIndex(where: { if case .element = $0 { true } else { false } }),
            case .element(let payload) = stanza.children[index], payload.name == payloadName
        else { return event }
        stanza.children.remove(at: index)
        return .read(ReadStanza(stanza: stanza, payload: payload))
    }
}

private let stanzas = """
    <iq type='set' from='example.org' to='push.example.com' id='a1&amp;b2'>\
    <pubsub xmlns='http://jabber.org/protocol/pubsub'><publish node='n&amp;1'><item>\
    <notification xmlns='urn:xmpp:push:0'><x xmlns='jabber:x:data' type='form'>\
    <field var='FORM_TYPE'><value>urn:xmpp:push:summary</value></field>\
    <field var='last-message-body'><value>caf\u{e9} &lt;b&gt; &amp; \u{1F600}<![CDATA[ <raw> ]]>tail</value></field>\
    </x></notification></item></publish></pubsub><after xmlns='urn:example'>kept</after></iq>\
    <iq type='get' to='push.example.com' id='q'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>\
    <iq type='set' to='push.example.com' id='second'> <other xmlns='urn:example'/><pubsub xmlns='http://jabber.org/protocol/pubsub'/></iq>\
    <message to='a@b'><pubsub xmlns='http://jabber.org/protocol/pubsub'/></message>\
    <iq type='set' to='push.example.com' id='empty'><pubsub xmlns='http://jabber.org/protocol/pubsub'/></iq>
    """

@Suite struct StanzaPayloadReaderTests {
    @Test(arguments: [1, 2, 5, 64, 100_000])
    func aReaderIsHandedExactlyWhatTheTreeHoldsWhateverTheChunks(chunk: Int) throws {
        let input = streamOpen + stanzas
        let tree = try events(input, chunk: chunk, readers: [])
        let read = try events(input, chunk: chunk, readers: [RebuildingReader(payloadName: "pubsub")])
        #expect(read == expected(tree, payloadName: "pubsub"))
        // The first and last iq were read; the one whose first child is another element was not.
        #expect(read.filter { if case .read = $0 { true } else { false } }.count == 2)
    }

    @Test func theFirstReaderThatAcceptsReadsAndItsIndexComesWithTheStanza() throws {
        let input = streamOpen + stanzas
        let read = try events(input, chunk: 100_000, readers: [RebuildingReader(payloadName: "query"), RebuildingReader(payloadName: "pubsub")])
        let readers = read.compactMap { if case .read(let read) = $0 { read.reader } else { nil } }
        #expect(readers == [1, 0, 1])
    }

    @Test func aStanzaOverTheSizeLimitIsSkippedAndItsReaderReset() throws {
        let reader = RebuildingReader(payloadName: "pubsub")
        let big = String(repeating: "x", count: 5_000)
        let input = streamOpen
            + "<iq type='set' to='push.example.com' id='big'><pubsub xmlns='p'><value>\(big)</value></pubsub></iq>"
            + "<iq type='set' to='push.example.com' id='next'><pubsub xmlns='p'><value>small</value></pubsub></iq>"
        let result = try events(input, chunk: 512, readers: [reader], limits: .init(maximumStanzaBytes: 2_000))
        guard case .stanzaSkipped(let skipped) = result[1], case .read(let next) = result[2] else {
            Issue.record("expected a skipped stanza, then a read one: \(result)")
            return
        }
        #expect(skipped.element[attribute: "id"] == "big")
        #expect(reader.resets == 1)
        #expect(next.stanza[attribute: "id"] == "next")
        #expect(next.payload as? StreamElement == StreamElement("pubsub", namespace: "p", children: [.element(.text("value", namespace: "p", "small"))]))
    }

    @Test func aPayloadNestedPastTheDepthLimitIsSkipped() throws {
        let reader = RebuildingReader(payloadName: "pubsub")
        let nested = String(repeating: "<a>", count: 10) + String(repeating: "</a>", count: 10)
        let input = streamOpen + "<iq type='set' id='deep'><pubsub xmlns='p'>\(nested)</pubsub></iq><iq type='set' id='ok'><pubsub xmlns='p'/></iq>"
        let result = try events(input, chunk: 7, readers: [reader], limits: .init(maximumDepth: 6))
        guard case .stanzaSkipped(let skipped) = result[1], case .read(let ok) = result[2] else {
            Issue.record("expected a skipped stanza, then a read one: \(result)")
            return
        }
        #expect(skipped.reason == .tooDeep(limit: 6))
        #expect(ok.stanza[attribute: "id"] == "ok")
    }

    @Test func anUnboundPrefixInsideAReadPayloadIsRefusedAsInATree() {
        let input = streamOpen + "<iq type='set'><pubsub xmlns='p'><x a:b='1'/></pubsub></iq>"
        #expect(throws: XMLStreamError.self) {
            _ = try events(input, chunk: 100, readers: [RebuildingReader(payloadName: "pubsub")])
        }
    }

    @Test func attributeLookupByNameDecodesAmpersandsAndIgnoresNamespacedOnes() {
        let probe = AttributeProbe { attributes in
            [attributes["node"], attributes["lang"], attributes["missing"], attributes["nod"]]
        }
        let input = streamOpen + "<iq type='set'><p node='a&amp;b&lt;c' xml:lang='en'/></iq>"
        _ = try? events(input, chunk: 3, readers: [probe])
        #expect(probe.seen == ["a&b<c", nil, nil, nil])
    }

    @Test func attributeLookupWithKnownTextsAnswersTheSameValues() {
        let known = KnownStrings(["secret", "a&b", "FORM_TYPE"])
        let probe = AttributeProbe { attributes in
            ["var", "entity", "other", "missing", "lang"].flatMap { name in [attributes[name, known: known], attributes[name]] }
        }
        let input = streamOpen + "<iq type='set'><p var='secret' entity='a&amp;b' other='secrets' xml:lang='en'/></iq>"
        _ = try? events(input, chunk: 5, readers: [probe])
        // Each pair: with the known texts, then without; a known text written with an entity is decoded.
        #expect(probe.seen == ["secret", "secret", "a&b", "a&b", "secrets", "secrets", nil, nil, nil, nil])
    }
}
