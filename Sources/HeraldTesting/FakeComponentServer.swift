import NIOCore
import NIOPosix
import Synchronization
import XMLStream
import XMPPComponent

/// The server side of XEP-0114 for tests: accepts a component's connection on a loopback port chosen
/// at run time, checks its handshake, records what it sends, and sends whatever a test scripts,
/// including bytes no real server would send.
public final class FakeComponentServer: Sendable {
    public enum HandshakeBehaviour: Sendable {
        /// Verify the digest and answer `<handshake/>` or `not-authorized`.
        case verify
        /// Never answer the handshake.
        case ignore
        /// Answer a valid handshake with `conflict` while `held` says another connection holds the
        /// domain (Prosody's answer to a second connection), then accept.
        case conflict(held: @Sendable () -> Bool)
    }

    public let secret: String
    public let port: Int
    /// Stanzas received from the component on any connection.
    public let inbox: StanzaInbox
    private let serverChannel: any Channel
    private let state: SharedState

    final class SharedState: Sendable {
        let value = Mutex<(connections: [any Channel], handshakes: Int, accepted: Int)>(([], 0, 0))
        /// Reads that held nothing but whitespace: keepalives.
        let whitespaceReads = Mutex(0)
        func withLock<T>(_ body: (inout (connections: [any Channel], handshakes: Int, accepted: Int)) -> T) -> T {
            value.withLock { body(&$0) }
        }
    }

    public static func start(
        secret: String,
        handshake: HandshakeBehaviour = .verify,
        receiveBufferBytes: Int? = nil,
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) async throws -> FakeComponentServer {
        let inbox = StanzaInbox(eventLoop: group.next())
        let state = SharedState()
        var bootstrap = ServerBootstrap(group: group).serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
        // A small fixed buffer (no autotuning) makes a server that stops reading felt after kilobytes.
        if let receiveBufferBytes { bootstrap = bootstrap.childChannelOption(.socketOption(.so_rcvbuf), value: receiveBufferBytes) }
        let channel = try await bootstrap
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    state.withLock {
                        $0.connections.append(channel)
                        $0.accepted += 1
                    }
                    let streamID = "fake-\(UInt32.random(in: .min ... .max))"
                    let handler = StreamPeerHandler(
                        onEvent: { event in
                            switch event {
                            case .streamStart(let header):
                                let domain = header.element[attribute: "to"] ?? ""
                                channel.writeAndFlush(
                                    ByteBuffer(
                                        string: "<?xml version='1.0'?><stream:stream xmlns:stream='http://etherx.jabber.org/streams' "
                                            + "xmlns='jabber:component:accept' from='\(domain)' id='\(streamID)'>"
                                    ),
                                    promise: nil
                                )
                            case .stanza(let element) where element.name == "handshake":
                                if case .ignore = handshake { return }
                                if case .conflict(let held) = handshake, held() {
                                    channel.writeAndFlush(
                                        ByteBuffer(
                                            string: "<stream:error><conflict xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>"
                                                + "</stream:error></stream:stream>"
                                        ),
                                        promise: nil
                                    )
                                    channel.close(promise: nil)
                                    return
                                }
                                if element.text == ComponentHandshake.digest(streamID: streamID, secret: secret) {
                                    state.withLock { $0.handshakes += 1 }
                                    channel.writeAndFlush(ByteBuffer(string: "<handshake/>"), promise: nil)
                                } else {
                                    channel.writeAndFlush(
                                        ByteBuffer(
                                            string: "<stream:error><not-authorized xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>"
                                                + "</stream:error></stream:stream>"
                                        ),
                                        promise: nil
                                    )
                                    channel.close(promise: nil)
                                }
                            case .stanza(let element):
                                inbox.deliver(element)
                            case .stanzaSkipped(let skipped):
                                inbox.deliver(skipped.element)
                            case .read(let read):
                                // Its parser has no readers; for completeness, the stanza without its payload.
                                inbox.deliver(read.stanza)
                            case .streamEnd:
                                inbox.deliver(StreamElement("stream-end"))
                                channel.writeAndFlush(ByteBuffer(string: "</stream:stream>"), promise: nil)
                                channel.close(promise: nil)
                            }
                        },
                        onBytes: { bytes in
                            if bytes.readableBytes > 0, bytes.readableBytesView.allSatisfy({ $0 == 0x20 || $0 == 0x0A || $0 == 0x09 || $0 == 0x0D }) {
                                state.whitespaceReads.withLock { $0 += 1 }
                            }
                        }
                    )
                    try channel.pipeline.syncOperations.addHandler(handler)
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        return FakeComponentServer(secret: secret, channel: channel, inbox: inbox, state: state)
    }

    private init(
        secret: String,
        channel: any Channel,
        inbox: StanzaInbox,
        state: SharedState
    ) {
        self.secret = secret
        self.serverChannel = channel
        self.port = channel.localAddress?.port ?? 0
        self.inbox = inbox
        self.state = state
    }

    /// Connections accepted so far.
    public var acceptedConnections: Int { state.withLock { $0.accepted } }
    /// Whitespace-only reads from the component (keepalives).
    public var keepalivesReceived: Int { state.whitespaceReads.withLock { $0 } }
    /// Accepted connections still open.
    public var openConnections: Int { state.withLock { $0.connections.filter(\.isActive).count } }
    /// Handshakes that verified.
    public var successfulHandshakes: Int { state.withLock { $0.handshakes } }

    /// Writes raw bytes on the newest connection.
    public func sendRaw(_ text: String) async throws {
        guard let channel = state.withLock({ $0.connections.last }) else { throw StanzaInbox.Closed() }
        try await channel.writeAndFlush(ByteBuffer(string: text))
    }

    /// Writes raw bytes on the newest connection without waiting for the socket to take them: for
    /// more than a component that stopped reading would take.
    public func sendRawWithoutWaiting(_ text: String) throws {
        guard let channel = state.withLock({ $0.connections.last }) else { throw StanzaInbox.Closed() }
        channel.writeAndFlush(ByteBuffer(string: text), promise: nil)
    }

    /// Stops or resumes reading the newest connection, as a server that stops reading its component's
    /// stream would: what the component writes then stays in the sockets' buffers and its own.
    public func setReading(_ reading: Bool) async throws {
        guard let channel = state.withLock({ $0.connections.last }) else { throw StanzaInbox.Closed() }
        try await channel.setOption(ChannelOptions.autoRead, value: reading).get()
        if reading { channel.read() }
    }

    public func send(_ stanza: StreamElement) async throws {
        try await sendRaw(XMLSerializer.serialize(stanza, inheritedNamespace: Stanza.componentNamespace))
    }

    /// Closes every connection without a closing tag, as a crashing server would.
    public func dropConnections() async {
        let connections = state.withLock { $0.connections }
        for connection in connections { try? await connection.close() }
    }

    public func stop() async {
        await dropConnections()
        try? await serverChannel.close()
    }
}
