import Testing

@testable import XMLStream

private let streamOpen = "<stream:stream xmlns:stream='http://etherx.jabber.org/streams' xmlns='jabber:component:accept'>"

private func parseStanza(_ xml: String) throws -> StreamElement {
    let events = try XMLStreamParser().feed(Array((streamOpen + xml).utf8))
    guard case .stanza(let element)? = events.last else { throw XMLStreamError.notWellFormed("no stanza") }
    return element
}

@Suite struct XMLSerializerTests {
    @Test func escapesTextAndAttributes() {
        let element = StreamElement(
            "message",
            ["to": "a'b\"c<d>&e\tf\ng\rh"],
            children: [.text("1 < 2 & 3 > 2\r")]
        )
        #expect(
            element.serialized()
                == "<message to='a&apos;b&quot;c&lt;d&gt;&amp;e&#9;f&#10;g&#13;h'>1 &lt; 2 &amp; 3 &gt; 2&#13;</message>"
        )
    }

    @Test(arguments: ["&", "<", ">", "'", "\"", "\t", "\n", "\r", "plain", "caf\u{e9} \u{1F600}", ""])
    func needsEscapingExactlyWhenEscapingChangesTheValue(value: String) {
        var escaped = ""
        XMLSerializer.escapeAttribute(value, into: &escaped)
        #expect(XMLSerializer.needsEscaping(attribute: value) == (escaped != value))
    }

    @Test func declaresNamespacesOnlyWhereTheyChange() {
        let iq = StreamElement("iq", namespace: "jabber:component:accept", ["type": "result"])
            .appending(
                StreamElement("query", namespace: "http://jabber.org/protocol/disco#info")
                    .appending(StreamElement("feature", namespace: "http://jabber.org/protocol/disco#info", ["var": "urn:xmpp:ping"]))
            )
        #expect(
            iq.serialized(inheritedNamespace: "jabber:component:accept")
                == "<iq type='result'><query xmlns='http://jabber.org/protocol/disco#info'><feature var='urn:xmpp:ping'/></query></iq>"
        )
    }

    @Test(arguments: [
        "<iq type='set' id='a&amp;b&apos;&quot;'><pubsub xmlns='http://jabber.org/protocol/pubsub'><publish node='n'/></pubsub></iq>",
        "<message xml:lang='de'><body>caf\u{e9} &lt;&amp;&gt; \u{1F600}\n\t</body><x xmlns='jabber:x:data' type='form'/></message>",
        "<message><body><![CDATA[a < b]]></body></message>",
        "<p:iq xmlns:p='jabber:component:accept' xmlns:o='urn:other' o:flag='1'><o:child/></p:iq>",
        "<iq><child xmlns=''>text</child></iq>",
    ])
    func roundTripsWhatTheParserReads(xml: String) throws {
        let parsed = try parseStanza(xml)
        let reparsed = try parseStanza(parsed.serialized(inheritedNamespace: "jabber:component:accept"))
        #expect(reparsed == parsed)
    }
}
