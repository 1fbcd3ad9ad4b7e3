import Foundation
import NIOCore
import NIOPosix
import Synchronization
import XMLStream
import XMPPComponent

/// A real XMPP client for end-to-end tests: plain TCP on loopback, SASL PLAIN, resource binding.
/// It plays the user whose device registers with Herald and whose server publishes pushes.
public final class TestXMPPClient: Sendable {
    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    public let jid: JID
    public let inbox: StanzaInbox
    private let channel: any Channel
    private let headers: StanzaInbox
    private let idCounter = Atomic<Int>(0)

    private init(jid: JID, channel: any Channel, inbox: StanzaInbox, headers: StanzaInbox) {
        self.jid = jid
        self.channel = channel
        self.inbox = inbox
        self.headers = headers
    }

    /// Connects, authenticates and binds `resource`.
    public static func connect(
        host: String = "127.0.0.1",
        port: Int,
        username: String,
        domain: String,
        password: String,
        resource: String = "test"
    ) async throws -> TestXMPPClient {
        let group = MultiThreadedEventLoopGroup.singleton
        let eventLoop = group.next()
        let inbox = StanzaInbox(eventLoop: eventLoop)
        // Stream headers and stream-level elements go to a second inbox so stanza waits never see them.
        let headers = StanzaInbox(eventLoop: eventLoop)
        let channel = try await ClientBootstrap(group: eventLoop)
            .connect(host: host, port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    let handler = StreamPeerHandler(
                        onEvent: { event in
                            switch event {
                            case .streamStart(let header): headers.deliver(header.element)
                            case .stanza(let element) where element.namespace == StreamError.streamNamespace
                                || element.namespace == "urn:ietf:params:xml:ns:xmpp-sasl":
                                headers.deliver(element)
                            case .stanza(let element): inbox.deliver(element)
                            case .stanzaSkipped(let skipped): inbox.deliver(skipped.element)
                            case .read(let read): inbox.deliver(read.stanza)
                            case .streamEnd: headers.deliver(StreamElement("stream-end"))
                            }
                        },
                        onClose: {
                            inbox.close()
                            headers.close()
                        }
                    )
                    try channel.pipeline.syncOperations.addHandler(handler, name: "stream")
                    return channel
                }
            }
        let client = TestXMPPClient(
            jid: JID(localpart: username, domain: domain, resource: resource),
            channel: channel,
            inbox: inbox,
            headers: headers
        )
        try await client.openStream()
        _ = try await headers.next("stream features") { $0.name == "features" }
        let credentials = Data("\u{0}\(username)\u{0}\(password)".utf8).base64EncodedString()
        try await client.write(
            "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>\(credentials)</auth>"
        )
        let outcome = try await headers.next("SASL outcome") { $0.name == "success" || $0.name == "failure" }
        guard outcome.name == "success" else { throw Failure(description: "SASL authentication failed") }
        try await channel.pipeline.handler(type: StreamPeerHandler.self).map { $0.resetParser() }.get()
        try await client.openStream()
        _ = try await headers.next("stream features after auth") { $0.name == "features" }
        let bind = StreamElement("bind", namespace: "urn:ietf:params:xml:ns:xmpp-bind")
            .appending(.text("resource", namespace: "urn:ietf:params:xml:ns:xmpp-bind", resource))
        let bound = try await client.request(type: "set", to: nil, payload: bind)
        guard bound.stanzaType == "result" else { throw Failure(description: "resource binding failed") }
        return client
    }

    private func openStream() async throws {
        try await write(
            "<?xml version='1.0'?><stream:stream to='\(jid.domainpart)' version='1.0' xml:lang='en' "
                + "xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>"
        )
        _ = try await headers.next("stream header") { $0.name == "stream" }
    }

    public func write(_ text: String) async throws {
        try await channel.writeAndFlush(ByteBuffer(string: text))
    }

    public func send(_ stanza: StreamElement) async throws {
        try await write(XMLSerializer.serialize(stanza, inheritedNamespace: "jabber:client"))
    }

    public func makeID() -> String {
        "c\(idCounter.wrappingAdd(1, ordering: .relaxed).newValue)"
    }

    /// Sends an iq and waits for its result or error.
    public func request(
        type: String,
        to: JID?,
        payload: StreamElement,
        timeout: Duration = .seconds(30)
    ) async throws -> StreamElement {
        let id = makeID()
        let iq = StreamElement("iq", namespace: "jabber:client", ["type": type, "id": id, "to": to?.description])
            .appending(payload)
        try await send(iq)
        return try await inbox.next("iq response \(id)", timeout: timeout) {
            $0.name == "iq" && $0.stanzaID == id && ($0.stanzaType == "result" || $0.stanzaType == "error")
        }
    }

    /// Drops the TCP connection without closing the stream, as a phone losing its network does; with
    /// stream management enabled the server hibernates the session.
    public func dropConnection() async {
        try? await channel.close()
    }

    /// Ends the stream cleanly and closes the connection.
    public func close() async {
        try? await write("</stream:stream>")
        _ = try? await headers.next("stream end", timeout: .seconds(2)) { $0.name == "stream-end" }
        try? await channel.close()
    }
}

extension TestXMPPClient {
    /// Executes an ad-hoc command at `to` with a submitted form of `fields` (values already XML-safe),
    /// and returns the reply.
    public func execute(command node: String, at to: String, fields: [(String, String)]) async throws -> StreamElement {
        var form = "<x xmlns='jabber:x:data' type='submit'>"
        for (name, value) in fields {
            form += "<field var='\(name)'><value>\(value)</value></field>"
        }
        form += "</x>"
        let id = makeID()
        try await write(
            "<iq type='set' id='\(id)' to='\(to)'><command xmlns='http://jabber.org/protocol/commands' node='\(node)' action='execute'>\(form)</command></iq>"
        )
        return try await inbox.next("command reply \(id)") { $0.name == "iq" && $0.stanzaID == id }
    }
}

extension StreamElement {
    /// The data form in a command reply.
    public var commandForm: DataForm? {
        child("command", namespace: Namespace.commands).flatMap { DataForm.first(in: $0) }
    }
}
