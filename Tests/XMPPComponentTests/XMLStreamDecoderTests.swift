import NIOCore
import NIOEmbedded
import Testing
import XMLStream

@testable import XMPPComponent

@Suite struct XMLStreamDecoderTests {
    private func makeChannel() throws -> EmbeddedChannel {
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(XMLStreamDecoder()))
        return channel
    }

    @Test func framesBytesIntoStreamEvents() throws {
        let channel = try makeChannel()
        let input = "<stream:stream xmlns:stream='http://etherx.jabber.org/streams' xmlns='jabber:component:accept' id='x'>"
            + "<handshake/><iq type='get' id='1'><ping xmlns='urn:xmpp:ping'/></iq>"
        // Byte by byte, as a slow network would deliver it.
        for byte in input.utf8 {
            try channel.writeInbound(ByteBuffer(bytes: [byte]))
        }
        guard case .streamStart(let header)? = try channel.readInbound(as: XMLStreamEvent.self) else {
            Issue.record("no header")
            return
        }
        #expect(header.element[attribute: "id"] == "x")
        guard case .stanza(let handshake)? = try channel.readInbound(as: XMLStreamEvent.self) else {
            Issue.record("no handshake")
            return
        }
        #expect(handshake.name == "handshake")
        guard case .stanza(let iq)? = try channel.readInbound(as: XMLStreamEvent.self) else {
            Issue.record("no iq")
            return
        }
        #expect(iq.child("ping", namespace: "urn:xmpp:ping") != nil)
        #expect(try channel.readInbound(as: XMLStreamEvent.self) == nil)
        _ = try channel.finish()
    }

    @Test func malformedInputSurfacesAsAnError() throws {
        let channel = try makeChannel()
        try channel.writeInbound(ByteBuffer(string: "<stream:stream xmlns:stream='http://etherx.jabber.org/streams'>"))
        #expect(throws: XMLStreamError.restrictedXML("comment")) {
            try channel.writeInbound(ByteBuffer(string: "<!-- no -->"))
        }
        _ = try? channel.finish()
    }
}
