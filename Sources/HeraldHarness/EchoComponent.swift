import Crypto
import Foundation
import NIOCore
import NIOPosix
import Synchronization

/// A component that answers every iq at once with an empty `result`, doing nothing else: behind an XMPP
/// server it shows that server's own routing ceiling, which the benchmark compares Herald with.
/// It scans bytes rather than parsing XML, so that its own cost stays out of the way.
public final class EchoComponent: Sendable {
    private let channel: any Channel
    private let handler: NIOLoopBound<EchoHandler>

    /// Connects to the server's component port as `domain` and waits (bounded) for the handshake.
    public static func connect(host: String = "127.0.0.1", port: Int, domain: String, secret: String, timeout: Duration = .seconds(10)) async throws -> EchoComponent {
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(EchoHandler(domain: domain, secret: secret))
                }
            }
            .connect(host: host, port: port).get()
        let handler: NIOLoopBound<EchoHandler>
        do {
            handler = try await channel.eventLoop.submit {
                NIOLoopBound(try channel.pipeline.syncOperations.handler(type: EchoHandler.self), eventLoop: channel.eventLoop)
            }.get()
        } catch {
            // A server refusing the handshake may close the connection first, taking the pipeline with it.
            throw LoadGeneratorError("the echo component's connection to \(domain) closed before it was accepted")
        }
        let component = EchoComponent(channel: channel, handler: handler)
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if try await channel.eventLoop.submit({ handler.value.authenticated }).get() { return component }
            try await Task.sleep(for: .milliseconds(10))
        }
        try? await channel.close()
        throw LoadGeneratorError("the echo component was not accepted as \(domain)")
    }

    private init(channel: any Channel, handler: NIOLoopBound<EchoHandler>) {
        self.channel = channel
        self.handler = handler
    }

    /// iq requests answered so far.
    public var answered: Int {
        get async throws { try await channel.eventLoop.submit { self.handler.value.answered }.get() }
    }

    public func stop() async {
        try? await channel.close()
    }
}

final class EchoHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let domain: String
    private let secret: String
    private var buffer = ByteBuffer()
    private(set) var authenticated = false
    private(set) var answered = 0
    private var replies = ByteBuffer()

    init(domain: String, secret: String) {
        self.domain = domain
        self.secret = secret
    }

    func channelActive(context: ChannelHandlerContext) {
        context.writeAndFlush(wrapOutboundOut(ByteBuffer(
            string: "<?xml version='1.0'?><stream:stream xmlns='jabber:component:accept' "
                + "xmlns:stream='http://etherx.jabber.org/streams' to='\(domain)'>"
        )), promise: nil)
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var incoming = unwrapInboundIn(data)
        buffer.writeBuffer(&incoming)
        if !authenticated { return handshake(context: context) }
        answerRequests()
        if buffer.readerIndex > 65_536 { buffer.discardReadBytes() }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        if replies.readableBytes > 0 {
            context.writeAndFlush(wrapOutboundOut(replies), promise: nil)
            replies = context.channel.allocator.buffer(capacity: 4096)
        }
        context.fireChannelReadComplete()
    }

    private func handshake(context: ChannelHandlerContext) {
        guard let view = buffer.getString(at: buffer.readerIndex, length: buffer.readableBytes) else { return }
        if let accepted = view.range(of: "<handshake/>") {
            buffer.moveReaderIndex(forwardBy: view.utf8.distance(from: view.startIndex, to: accepted.upperBound))
            authenticated = true
            return
        }
        guard let streamStart = view.range(of: "<stream:stream"), let end = view[streamStart.upperBound...].firstIndex(of: ">"),
            let idStart = view[streamStart.lowerBound..<end].range(of: " id='"), let idEnd = view[idStart.upperBound...].firstIndex(of: "'")
        else { return }
        let streamID = String(view[idStart.upperBound..<idEnd])
        let digest = Insecure.SHA1.hash(data: Array((streamID + secret).utf8)).map { String(format: "%02x", $0) }.joined()
        buffer.moveReaderIndex(forwardBy: view.utf8.distance(from: view.startIndex, to: end) + 1)
        context.writeAndFlush(wrapOutboundOut(ByteBuffer(string: "<handshake>\(digest)</handshake>")), promise: nil)
    }

    private static let iqOpen = Array("<iq ".utf8)
    private static let iqClose = Array("</iq>".utf8)

    /// Each whole `<iq …>…</iq>` (or `<iq …/>`) in the buffer: a `result` back with its id, addressed back.
    private func answerRequests() {
        while true {
            let consumed: Int? = buffer.withUnsafeReadableBytes { bytes in
                guard let start = ByteSearch.find(Self.iqOpen, in: bytes, from: 0),
                    let tagEnd = ByteSearch.find([UInt8(ascii: ">")], in: bytes, from: start)
                else { return nil }
                var end = tagEnd
                if bytes[tagEnd - 1] != UInt8(ascii: "/") {
                    guard let close = ByteSearch.find(Self.iqClose, in: bytes, from: tagEnd) else { return nil }
                    end = close + Self.iqClose.count - 1
                }
                let tag = UnsafeRawBufferPointer(rebasing: bytes[start...tagEnd])
                let type = Self.attribute("type", in: tag)
                if type == "get" || type == "set" {
                    var reply = "<iq type='result'"
                    if let id = Self.attribute("id", in: tag) { reply += " id='\(id)'" }
                    if let to = Self.attribute("to", in: tag) { reply += " from='\(to)'" }
                    if let from = Self.attribute("from", in: tag) { reply += " to='\(from)'" }
                    replies.writeString(reply + "/>")
                    answered += 1
                }
                return end + 1
            }
            guard let consumed else { return }
            buffer.moveReaderIndex(forwardBy: consumed)
        }
    }

    /// The raw value of `name='…'` (or `"…"`) in a start tag; servers escape what needs escaping, and
    /// it goes back as it came.
    private static func attribute(_ name: String, in tag: UnsafeRawBufferPointer) -> String? {
        for quote in ["'", "\""] {
            let needle = Array(" \(name)=\(quote)".utf8)
            if let start = ByteSearch.find(needle, in: tag, from: 0), let end = ByteSearch.find(Array(quote.utf8), in: tag, from: start + needle.count) {
                return String(decoding: tag[(start + needle.count)..<end], as: UTF8.self)
            }
        }
        return nil
    }
}
