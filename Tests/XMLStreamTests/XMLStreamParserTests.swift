import Testing

@testable import XMLStream

private let streamOpen = """
    <?xml version='1.0'?><stream:stream xmlns:stream='http://etherx.jabber.org/streams' \
    xmlns='jabber:component:accept' from='push.example.com' id='d3b07384-d9a'>
    """

private let sampleStanzas = """
    <iq type='set' from='example.org' to='push.example.com' id='a1&amp;b2'>\
    <pubsub xmlns='http://jabber.org/protocol/pubsub'><publish node='eKxTS5n3bOe0'><item>\
    <notification xmlns='urn:xmpp:push:0'><x xmlns='jabber:x:data' type='form'>\
    <field var='FORM_TYPE'><value>urn:xmpp:push:summary</value></field>\
    <field var='last-message-body'><value>caf\u{e9} &lt;b&gt; &amp; \u{1F600}</value></field>\
    </x></notification></item></publish></pubsub></iq> \n\t
    <message to='a@b' xml:lang='en'><body><![CDATA[<not markup> & raw]]></body></message>\
    <presence/>
    """

/// Parses `input` fed in the given chunk lengths (cycled), collecting every event.
private func parse(_ input: String, chunks: [Int], limits: XMLStreamParser.Limits = .init()) throws -> [XMLStreamEvent] {
    let parser = XMLStreamParser(limits: limits)
    let bytes = Array(input.utf8)
    var events: [XMLStreamEvent] = []
    var offset = 0
    var index = 0
    while offset < bytes.count {
        let length = min(chunks[index % chunks.count], bytes.count - offset)
        events += try parser.feed(bytes[offset..<offset + length])
        offset += length
        index += 1
    }
    return events
}

private func parseWhole(_ input: String, limits: XMLStreamParser.Limits = .init()) throws -> [XMLStreamEvent] {
    try parse(input, chunks: [max(1, input.utf8.count)], limits: limits)
}

private func stanzas(_ events: [XMLStreamEvent]) -> [StreamElement] {
    events.compactMap { if case .stanza(let element) = $0 { element } else { nil } }
}

private func refusal(_ input: String, limits: XMLStreamParser.Limits = .init()) -> XMLStreamError? {
    do {
        _ = try parseWhole(input, limits: limits)
        return nil
    } catch let error as XMLStreamError {
        return error
    } catch {
        return nil
    }
}

@Suite struct XMLStreamParserTests {
    @Test(arguments: [1, 2, 3, 7, 64, 4096])
    func sameEventsWhateverTheChunkSize(chunkSize: Int) throws {
        let input = streamOpen + sampleStanzas + "</stream:stream>"
        let reference = try parseWhole(input)
        #expect(reference.count == 5)
        #expect(try parse(input, chunks: [chunkSize]) == reference)
    }

    @Test func sameEventsForRandomSplits() throws {
        let input = streamOpen + sampleStanzas + "</stream:stream>"
        let reference = try parseWhole(input)
        var generator = SplitMix64(seed: 0x5EED)
        for _ in 0..<200 {
            let chunks = (0..<16).map { _ in Int.random(in: 1...40, using: &generator) }
            #expect(try parse(input, chunks: chunks) == reference)
        }
    }

    @Test func emitsEachStanzaAsSoonAsItsEndTagArrives() throws {
        let parser = XMLStreamParser()
        #expect(try parser.feed(Array(streamOpen.utf8)).count == 1)
        #expect(try parser.feed(Array("<iq id='1' type='get'><ping xmlns='urn:xmpp:ping'/></iq".utf8)).isEmpty)
        let events = try parser.feed(Array(">".utf8))
        #expect(events.count == 1)
        #expect(stanzas(events).first?.child("ping", namespace: "urn:xmpp:ping") != nil)
    }

    @Test func headerCarriesAttributesAndDefaultNamespace() throws {
        let events = try parseWhole(streamOpen)
        guard case .streamStart(let header)? = events.first else {
            Issue.record("no header")
            return
        }
        #expect(header.element.name == "stream")
        #expect(header.element.namespace == "http://etherx.jabber.org/streams")
        #expect(header.element[attribute: "id"] == "d3b07384-d9a")
        #expect(header.element[attribute: "from"] == "push.example.com")
        #expect(header.defaultNamespace == "jabber:component:accept")
    }

    @Test func predefinedEntitiesAndCharacterReferencesInTextAndAttributes() throws {
        let input = streamOpen + """
            <message id='&lt;&gt;&amp;&apos;&quot;&#65;&#x42;&#x1F600;'>\
            <body>&lt;&gt;&amp;&apos;&quot;&#65;&#x42;&#x1F600;</body></message>
            """
        let message = try #require(stanzas(try parseWhole(input)).first)
        #expect(message[attribute: "id"] == "<>&'\"AB\u{1F600}")
        #expect(message.child("body")?.text == "<>&'\"AB\u{1F600}")
    }

    @Test func literalCharacterReferenceTextSurvivesInAttributes() throws {
        // `&amp;#38;` is the text "&#38;", which must not be decoded a second time.
        let input = streamOpen + "<iq id='x&amp;#38;y'/>"
        #expect(stanzas(try parseWhole(input)).first?[attribute: "id"] == "x&#38;y")
    }

    @Test func ampersandsInNamespaceURIsAreDecodedOnce() throws {
        // Found by fuzzing: libxml2 hands URIs back with `&amp;` as `&#38;`, so a reply changed the namespace.
        let input = streamOpen + "<iq><query xmlns='urn:x&amp;y&amp;#38;z' a:b='1' xmlns:a='urn:p&amp;q'/></iq>"
        let query = try #require(stanzas(try parseWhole(input)).first?.child("query"))
        #expect(query.namespace == "urn:x&y&#38;z")
        #expect(query.attributes.first?.namespace == "urn:p&q")
    }

    /// Far more distinct names and namespace URIs than the parser's interning tables have slots (512 and
    /// 128), twice over, with the stream's own names in between: every element, attribute and namespace
    /// comes out as written, whichever entries pushed out which.
    @Test func namesAndNamespacesBeyondTheInterningTablesComeOutAsWritten() throws {
        let count = 2_000
        var input = streamOpen
        for round in 0..<2 {
            for index in 0..<count {
                input += "<iq type='set' id='\(round)-\(index)'><e\(index) xmlns='urn:n:\(index)&amp;x' "
                input += "xmlns:p='urn:p:\(index)' a\(index)='v' p:b\(index)='w'><item/></e\(index)></iq>"
            }
        }
        let parsed = stanzas(try parse(input, chunks: [4096, 13, 700]))
        #expect(parsed.count == 2 * count)
        for (position, iq) in parsed.enumerated() {
            let index = position % count
            #expect(iq.name == "iq" && iq.namespace == "jabber:component:accept" && iq[attribute: "id"] == "\(position / count)-\(index)")
            let element = try #require(iq.elements.first)
            #expect(element.name == "e\(index)")
            #expect(element.namespace == "urn:n:\(index)&x")
            #expect(element.attributes.map(\.name) == ["a\(index)", "b\(index)"])
            #expect(element.attributes.map(\.namespace) == [nil, "urn:p:\(index)"])
            #expect(element.child("item")?.namespace == "urn:n:\(index)&x")
        }
    }

    @Test func cdataIsCharacterData() throws {
        let message = try #require(stanzas(try parseWhole(streamOpen + sampleStanzas)).dropFirst().first)
        #expect(message.child("body")?.text == "<not markup> & raw")
    }

    @Test func namespacesAndPrefixesResolve() throws {
        let input = streamOpen + """
            <iq type='get'><q:query xmlns:q='http://jabber.org/protocol/disco#info' node='n'>\
            <identity xmlns='urn:other' category='pubsub'/></q:query></iq>
            """
        let iq = try #require(stanzas(try parseWhole(input)).first)
        #expect(iq.namespace == "jabber:component:accept")
        let query = try #require(iq.child("query"))
        #expect(query.namespace == "http://jabber.org/protocol/disco#info")
        #expect(query.child("identity")?.namespace == "urn:other")
    }

    @Test func xmlLangIsANamespacedAttribute() throws {
        let message = try #require(stanzas(try parseWhole(streamOpen + sampleStanzas)).dropFirst().first)
        #expect(message.attribute("lang", namespace: StreamElement.xmlNamespace) == "en")
    }

    @Test func whitespaceKeepalivesBetweenStanzasAreIgnored() throws {
        let events = try parseWhole(streamOpen + " \n \t<presence/>  \n  <presence/> ")
        #expect(stanzas(events).count == 2)
    }

    @Test func streamEndIsReported() throws {
        let events = try parseWhole(streamOpen + "<presence/></stream:stream>")
        #expect(events.last == .streamEnd)
    }

    // MARK: Refusals

    @Test func refusesDoctype() {
        let input = "<?xml version='1.0'?><!DOCTYPE stream [<!ELEMENT stream ANY>]><stream:stream xmlns:stream='http://etherx.jabber.org/streams'>"
        #expect(refusal(input) == .restrictedXML("document type declaration"))
    }

    @Test func refusesBillionLaughsWithoutExpandingAnything() {
        var input = "<?xml version='1.0'?><!DOCTYPE lolz [<!ENTITY lol0 'lol'>"
        for level in 1...9 {
            input += "<!ENTITY lol\(level) '" + String(repeating: "&lol\(level - 1);", count: 10) + "'>"
        }
        input += "]><stream:stream xmlns:stream='http://etherx.jabber.org/streams'><message><body>&lol9;</body></message>"
        #expect(refusal(input)?.streamErrorCondition == "restricted-xml")
    }

    @Test func refusesExternalEntities() {
        let input = "<?xml version='1.0'?><!DOCTYPE s [<!ENTITY xxe SYSTEM 'file:///etc/passwd'>]><s>&xxe;</s>"
        #expect(refusal(input)?.streamErrorCondition == "restricted-xml")
    }

    @Test func refusesUndeclaredEntityReferences() {
        #expect(refusal(streamOpen + "<message><body>&xxe;</body></message>") != nil)
    }

    @Test func refusesComments() {
        #expect(refusal(streamOpen + "<message><!-- hidden --></message>") == .restrictedXML("comment"))
    }

    @Test func refusesProcessingInstructions() {
        #expect(refusal(streamOpen + "<message><?php evil()?></message>") == .restrictedXML("processing instruction"))
    }

    // MARK: Per-stanza limits

    @Test func skipsAStanzaNestingDeeperThanTheLimitAndGoesOn() throws {
        let limits = XMLStreamParser.Limits(maximumDepth: 8)
        let within = String(repeating: "<a>", count: 8) + String(repeating: "</a>", count: 8)
        #expect(stanzas(try parseWhole(streamOpen + within, limits: limits)).count == 1)
        let beyond = "<iq id='deep' type='get' from='u@example.org/r' to='push.example.com'>"
            + String(repeating: "<a>", count: 8) + String(repeating: "</a>", count: 8) + "</iq>"
        let events = try parseWhole(streamOpen + beyond + "<presence/>", limits: limits)
        #expect(events.dropFirst().first == .stanzaSkipped(SkippedStanza(
            element: StreamElement("iq", namespace: "jabber:component:accept", [
                "id": "deep", "type": "get", "from": "u@example.org/r", "to": "push.example.com",
            ]),
            reason: .tooDeep(limit: 8)
        )))
        #expect(stanzas(events).map(\.name) == ["presence"])
    }

    @Test func skipsNestingBeyondLibxml2sOwnLimit() throws {
        // libxml2 alone stops at 256 levels; a user can send that, so it must cost only the stanza.
        let deep = "<message>" + String(repeating: "<a>", count: 300) + String(repeating: "</a>", count: 300) + "</message>"
        let events = try parseWhole(streamOpen + deep + "<presence/>")
        guard case .stanzaSkipped(let skipped)? = events.dropFirst().first else {
            Issue.record("deep message was not skipped: \(events.dropFirst().first.map { "\($0)" } ?? "nothing")")
            return
        }
        #expect(skipped.reason == .tooDeep(limit: 64))
        #expect(stanzas(events).count == 1)
    }

    @Test func endsTheStreamOnlyBeyondTheSkippedDepthLimit() {
        let limits = XMLStreamParser.Limits(maximumDepth: 8, maximumSkippedDepth: 100)
        #expect(refusal(streamOpen + String(repeating: "<a>", count: 102), limits: limits) == .tooDeep(limit: 100))
        #expect(refusal(streamOpen + String(repeating: "<a>", count: 100), limits: limits) == nil)
    }

    @Test func skipsStanzasLargerThanTheLimitAndGoesOn() throws {
        let limits = XMLStreamParser.Limits(maximumStanzaBytes: 1024)
        let small = "<message><body>" + String(repeating: "x", count: 900) + "</body></message>"
        #expect(stanzas(try parseWhole(streamOpen + small + small, limits: limits)).count == 2)
        let large = "<message id='m1' to='push.example.com'><body>" + String(repeating: "x", count: 2000) + "</body></message>"
        for chunk in [1, 13, 4096, 100_000] {
            let events = try parse(streamOpen + large + small, chunks: [chunk], limits: limits)
            #expect(events.count == 3)
            #expect(events.dropFirst().first == .stanzaSkipped(SkippedStanza(
                element: StreamElement("message", namespace: "jabber:component:accept", ["id": "m1", "to": "push.example.com"]),
                reason: .tooLarge(limit: 1024)
            )))
            #expect(stanzas(events).first?.child("body")?.text.count == 900)
        }
    }

    @Test func skipsAStanzaWhoseStartTagAloneIsTooLarge() throws {
        let limits = XMLStreamParser.Limits(maximumStanzaBytes: 1024)
        let large = "<iq type='set' id='big' x='" + String(repeating: "&apos;", count: 1000) + "'><q/></iq>"
        let events = try parse(streamOpen + large + "<presence/>", chunks: [100], limits: limits)
        guard case .stanzaSkipped(let skipped)? = events.dropFirst().first else {
            Issue.record("large start tag was not skipped")
            return
        }
        #expect(skipped.element[attribute: "id"] == "big")
        #expect(skipped.element[attribute: "x"] == nil)
        #expect(stanzas(events).map(\.name) == ["presence"])
    }

    @Test func skipsAHugeStanzaWithoutHoldingIt() throws {
        // 8 MB of body in 64 KB reads: discarded as it arrives, so nothing near that size is buffered.
        let parser = XMLStreamParser()
        _ = try parser.feed(Array(streamOpen.utf8))
        _ = try parser.feed(Array("<message id='huge'><body>".utf8))
        let chunk = [UInt8](repeating: UInt8(ascii: "y"), count: 64 * 1024)
        for _ in 0..<128 {
            #expect(try parser.feed(chunk).isEmpty)
        }
        #expect(parser.textBytesCopied <= 512 * 1024)
        let events = try parser.feed(Array("</body></message><presence/>".utf8))
        #expect(events.count == 2)
        if case .stanzaSkipped(let skipped)? = events.first { #expect(skipped.element[attribute: "id"] == "huge") }
    }

    @Test func endsTheStreamForAnEndlessStartTag() {
        let limits = XMLStreamParser.Limits(maximumStanzaBytes: 1024, maximumBufferedBytes: 2048)
        let endless = "<message to='" + String(repeating: "x", count: 4000)
        #expect(refusal(streamOpen + endless, limits: limits) == .tooLarge(limit: 2048))
        #expect(throws: XMLStreamError.tooLarge(limit: 2048)) {
            _ = try parse(streamOpen + endless, chunks: [13], limits: limits)
        }
    }

    @Test func buildsTextInLinearWork() throws {
        // libxml2 reports each entity reference as its own callback: 480 KB of `&amp;` is 96,000 of them.
        let count = 96_000
        let body = String(repeating: "&amp;", count: count)
        let parser = XMLStreamParser()
        _ = try parser.feed(Array(streamOpen.utf8))
        let events = try parser.feed(Array(("<message><body>" + body + "</body></message>").utf8))
        let message = try #require(stanzas(events).first)
        #expect(message.child("body")?.text.utf8.count == count)
        #expect(parser.textCallbacks >= count / 2)
        // Each byte is copied once on arrival and once into its node: 2 per byte, not 1 per byte per callback.
        #expect(parser.textBytesCopied <= 2 * count)
    }

    @Test func refusesUnboundElementPrefix() {
        #expect(refusal(streamOpen + "<foo:iq/>") == .unboundPrefix("foo"))
    }

    @Test func refusesUnboundAttributePrefix() {
        #expect(refusal(streamOpen + "<iq foo:type='get'/>") == .unboundPrefix("foo"))
    }

    @Test func refusesMismatchedTags() {
        guard case .notWellFormed(let message)? = refusal(streamOpen + "<iq><query></iq>") else {
            Issue.record("mismatched tags were accepted")
            return
        }
        #expect(!message.isEmpty)
    }

    @Test func refusesTextBetweenStanzas() {
        #expect(refusal(streamOpen + "<presence/>hello<presence/>") == .textOutsideStanza)
    }

    @Test func refusesEverythingAfterTheFirstError() throws {
        let parser = XMLStreamParser()
        _ = try parser.feed(Array(streamOpen.utf8))
        #expect(throws: XMLStreamError.self) { try parser.feed(Array("<!-- x -->".utf8)) }
        #expect(throws: XMLStreamError.self) { try parser.feed(Array("<presence/>".utf8)) }
    }

    @Test func refusesGarbage() {
        #expect(refusal("\u{0}\u{1}not xml at all <<<") != nil)
    }
}

/// A small deterministic generator so random splits are reproducible.
struct SplitMix64: RandomNumberGenerator {
    private var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
