import HeraldCore
import Testing
import XMLStream
import XMPPComponent

@testable import HeraldXMPP

/// `PublishReader` must find in parser events exactly what `PublishParts(tree:)` finds in the tree, for
/// every shape a server sends and for odd ones, fed in any chunks.
@Suite struct PublishReaderTests {
    static let openStream = "<stream:stream xmlns:stream='http://etherx.jabber.org/streams' xmlns='jabber:component:accept'>"

    /// The odd shapes: forms in any order, fields repeated or without `var`, several values, text split
    /// by child elements, CDATA and entities, elements in the wrong namespace, extra and nested elements.
    static let oddPublishes: [String] = [
        // The summary form is not the first form; a field repeated; a value with several pieces of text.
        """
        <iq type='set' from='example.org' to='push.example.com' id='o1'><pubsub xmlns='http://jabber.org/protocol/pubsub'>\
        <publish node='n1'><item><notification xmlns='urn:xmpp:push:0'>\
        <x xmlns='jabber:x:data' type='form'><field var='FORM_TYPE'><value>urn:example:other</value></field>\
        <field var='message-count'><value>9</value></field></x>\
        <x xmlns='jabber:x:data' type='form'><field var='FORM_TYPE'><value>urn:xmpp:push:summary</value></field>\
        <field var='message-count'><value>2</value><value>3</value></field><field var='message-count'><value>4</value></field>\
        <field><value>no var</value></field>\
        <field var='last-message-body'><value>a<b xmlns='urn:x'>hidden</b>b&amp;c<![CDATA[<d>]]></value></field>\
        </x></notification></item></publish></pubsub></iq>
        """,
        // No summary-typed form: the first form counts; publish-options before the publish; a second
        // publish-options and a second form in the first are ignored.
        """
        <iq type='set' from='user@example.org/r' to='push.example.com' id='o2'><pubsub xmlns='http://jabber.org/protocol/pubsub'>\
        <publish-options><x xmlns='jabber:x:data' type='submit'><field var='secret'><value>first</value></field>\
        <field var='sandbox'><value>TRUE</value></field><field var='device_id'><value>tok</value></field>\
        <field var='service'><value>FCM</value></field><field var='silent'><value>1</value></field>\
        <field var='topic'><value></value></field></x><x xmlns='jabber:x:data'><field var='secret'><value>second form</value></field></x>\
        </publish-options><publish-options><x xmlns='jabber:x:data'><field var='secret'><value>second options</value></field></x></publish-options>\
        <publish node='n2'><item><notification xmlns='urn:xmpp:push:0'>\
        <x xmlns='jabber:x:data' type='submit'><field var='last-message-sender'><value>juliet@capulet.example</value></field></x>\
        <x xmlns='jabber:x:data' type='form'><field var='last-message-sender'><value>not the first</value></field></x>\
        </notification></item></publish></pubsub></iq>
        """,
        // Wrong namespaces everywhere but the node: nothing else counts.
        """
        <iq type='set' from='example.org' to='push.example.com' id='o3'><pubsub xmlns='http://jabber.org/protocol/pubsub'>\
        <publish node='n3'><item xmlns='urn:other'><notification xmlns='urn:xmpp:push:0'/></item></publish>\
        <publish-options><x xmlns='urn:not-forms'><field var='secret'><value>s</value></field></x></publish-options>\
        </pubsub></iq>
        """,
        // The second item, notification, encrypted and priority are ignored; text around children.
        """
        <iq type='set' from='example.org' to='push.example.com' id='o4'><pubsub xmlns='http://jabber.org/protocol/pubsub'>\
        <publish node='n&amp;4'><item><notification xmlns='urn:xmpp:push:0'>\
        <encrypted xmlns='tigase:push:encrypt:0' iv='i&amp;v' type='chat'>pay<x/>load</encrypted>\
        <encrypted xmlns='tigase:push:encrypt:0' iv='other'>second</encrypted>\
        <priority xmlns='tigase:push:priority:0'> high </priority><priority xmlns='tigase:push:priority:0'>high</priority>\
        </notification><notification xmlns='urn:xmpp:push:0'><priority xmlns='tigase:push:priority:0'>high</priority></notification>\
        </item><item><notification xmlns='urn:xmpp:push:0'><x xmlns='jabber:x:data'/></notification></item></publish>\
        <publish node='second'/></pubsub></iq>
        """,
        // A pubsub without a publish; one with an empty node; one without a node.
        "<iq type='set' from='example.org' to='push.example.com' id='o5'><pubsub xmlns='http://jabber.org/protocol/pubsub'><subscribe node='n'/></pubsub></iq>",
        "<iq type='set' from='example.org' to='push.example.com' id='o6'><pubsub xmlns='http://jabber.org/protocol/pubsub'><publish node=''/></pubsub></iq>",
        "<iq type='set' from='example.org' to='push.example.com' id='o7'><pubsub xmlns='http://jabber.org/protocol/pubsub'><publish/></pubsub></iq>",
        // No from.
        "<iq type='set' to='push.example.com' id='o8'><pubsub xmlns='http://jabber.org/protocol/pubsub'><publish node='n8'/></pubsub></iq>",
        // An empty summary form, and one whose FORM_TYPE value is empty.
        """
        <iq type='set' from='example.org' to='push.example.com' id='o9'><pubsub xmlns='http://jabber.org/protocol/pubsub'>\
        <publish node='n9'><item><notification xmlns='urn:xmpp:push:0'><x xmlns='jabber:x:data'>\
        <field var='FORM_TYPE'><value/></field><field var='message-count'/></x></notification></item></publish></pubsub></iq>
        """,
    ]

    static var allPublishes: [String] {
        [prosodyPublish, ejabberdPublish, bareNotificationPublish, tigasePublish, PublishParserTests.mongooseIMPublish] + oddPublishes
    }

    /// The stanzas `input` holds, read with and without a `PublishReader`, fed in `chunk`-byte pieces.
    private func readBothWays(_ input: String, chunk: Int) throws -> [(tree: StreamElement, read: ReadStanza)] {
        func events(readers: [any StanzaPayloadReader]) throws -> [XMLStreamEvent] {
            let parser = XMLStreamParser(readers: readers)
            let bytes = Array((Self.openStream + input).utf8)
            var events: [XMLStreamEvent] = []
            for start in stride(from: 0, to: bytes.count, by: chunk) {
                events += try parser.feed(bytes[start..<min(bytes.count, start + chunk)])
            }
            return events
        }
        let trees = try events(readers: []).compactMap { if case .stanza(let element) = $0 { element } else { nil } }
        let reads = try events(readers: [PublishReader()]).compactMap { if case .read(let read) = $0 { read } else { nil } }
        try #require(trees.count == reads.count, "every publish is read")
        return Array(zip(trees, reads))
    }

    @Test(arguments: allPublishes.indices)
    func findsWhatTheTreeHolds(index: Int) throws {
        let xml = Self.allPublishes[index]
        for chunk in [1, 3, 17, 100_000] {
            for (tree, read) in try readBothWays(xml, chunk: chunk) {
                #expect(read.payload as? PublishParts == PublishParts(tree: tree), "chunks of \(chunk)")
                // And so the same publish, or the same refusal.
                #expect(Result { () throws(StanzaError) in try PublishParser.parse(read) } == Result { () throws(StanzaError) in try PublishParser.parse(tree) })
            }
        }
    }

    @Test func oneReaderReadsPublishAfterPublishOnAStream() throws {
        let pairs = try readBothWays(Self.allPublishes.joined(), chunk: 64)
        #expect(pairs.count == Self.allPublishes.count)
        for (tree, read) in pairs {
            #expect(read.payload as? PublishParts == PublishParts(tree: tree))
        }
    }

    @Test func takesOnlyASetWhosePayloadIsPubsub() throws {
        let reader = PublishReader()
        let set = try stanza("<iq type='set' id='1'/>")
        let get = try stanza("<iq type='get' id='1'/>")
        #expect(reader.accepts(stanza: set, payload: "pubsub", namespace: Namespace.pubsub))
        #expect(!reader.accepts(stanza: get, payload: "pubsub", namespace: Namespace.pubsub))
        #expect(!reader.accepts(stanza: set, payload: "pubsub", namespace: "urn:other"))
        #expect(!reader.accepts(stanza: set, payload: "command", namespace: Namespace.commands))
    }

    @Test func theReadPublishIsTheParsedOne() throws {
        let (tree, read) = try #require(try readBothWays(prosodyPublish, chunk: 5).first)
        let publish = try PublishParser.parse(read)
        #expect(publish == (try PublishParser.parse(tree)))
        #expect(publish.node == "eKxTS5n3bOe0")
        #expect(publish.secret == "KK4+H5WMfpRG/2zCbuKq6wpX")
        #expect(publish.summary == Publish.Summary(messageCount: 1, lastMessageBody: "New Message!"))
    }
}
