import Foundation
import NIOCore
import NIOHPACK
import NIOHTTP2
import NIOPosix
import NIOSSL
import Synchronization

/// A request as a mock vendor sees it.
public struct MockHTTPRequest: Sendable {
    public var method: String
    public var path: String
    /// Regular headers, lowercased names; pseudo-headers excluded.
    public var headers: [String: String]
    public var body: Data
}

/// What a mock vendor answers, optionally after a delay.
public struct MockHTTPResponse: Sendable {
    public var status: Int
    public var headers: [(String, String)]
    public var body: Data
    public var delayMilliseconds: Int
    /// Drops the whole TCP connection instead of answering (a vendor host going away mid-request).
    public var dropsConnection: Bool
    /// Answers, then sends GOAWAY naming this stream as the last one processed (a graceful restart).
    public var goesAway: Bool
    /// Answers RST_STREAM(REFUSED_STREAM) instead: the server did nothing with the request.
    public var refusesStream: Bool
    /// Sends a 100 (Continue) informational answer before the final one.
    public var informational: Bool
    /// Never answers, and the whole connection goes silent from now on: no frame is read any more, so
    /// PINGs go unanswered too (a vendor host that hangs).
    public var silencesConnection: Bool

    public init(
        status: Int,
        headers: [(String, String)] = [],
        body: Data = Data(),
        delayMilliseconds: Int = 0,
        dropsConnection: Bool = false,
        goesAway: Bool = false,
        refusesStream: Bool = false,
        informational: Bool = false,
        silencesConnection: Bool = false
    ) {
        self.status = status
        self.headers = headers
        self.body = body
        self.delayMilliseconds = delayMilliseconds
        self.dropsConnection = dropsConnection
        self.goesAway = goesAway
        self.refusesStream = refusesStream
        self.informational = informational
        self.silencesConnection = silencesConnection
    }

    public static func json(_ status: Int, _ text: String, headers: [(String, String)] = []) -> MockHTTPResponse {
        MockHTTPResponse(status: status, headers: [("content-type", "application/json")] + headers, body: Data(text.utf8))
    }
}

/// HTTP/2 over TLS on a loopback port, answering every request with `handler`: the transport of the
/// mock APNs, FCM and Web Push endpoints.
public final class MockHTTP2Server: Sendable {
    public let port: Int
    private let channel: any Channel
    private let connections: ConnectionCount

    /// TCP connections open right now.
    public var openConnections: Int { connections.value.load(ordering: .relaxed) }

    final class ConnectionCount: Sendable {
        let value = Atomic<Int>(0)
    }

    public static func start(
        certificateFile: String,
        privateKeyFile: String,
        host: String = "127.0.0.1",
        port: Int = 0,
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        clientCertificateTrustRoots: String? = nil,
        settings: HTTP2Settings = [
            HTTP2Setting(parameter: .maxConcurrentStreams, value: 1000),
            HTTP2Setting(parameter: .maxHeaderListSize, value: 16384),
        ],
        handler: @escaping @Sendable (MockHTTPRequest) -> MockHTTPResponse
    ) async throws -> MockHTTP2Server {
        var tls = TLSConfiguration.makeServerConfiguration(
            certificateChain: try NIOSSLCertificate.fromPEMFile(certificateFile).map { .certificate($0) },
            privateKey: .privateKey(try NIOSSLPrivateKey(file: privateKeyFile, format: .pem))
        )
        tls.applicationProtocols = ["h2"]
        if let clientCertificateTrustRoots {
            // As APNs does for certificate authentication: no client certificate, no connection.
            tls.certificateVerification = .noHostnameVerification
            tls.trustRoots = .file(clientCertificateTrustRoots)
        }
        let sslContext = try NIOSSLContext(configuration: tls)
        let connections = ConnectionCount()
        let channel = try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .serverChannelOption(.backlog, value: 256)
            .childChannelInitializer { channel in
                connections.value.add(1, ordering: .relaxed)
                channel.closeFuture.whenComplete { _ in connections.value.subtract(1, ordering: .relaxed) }
                return channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: sslContext))
                    try channel.pipeline.syncOperations.addHandler(SilenceHandler())
                }.flatMap {
                    channel.configureHTTP2Pipeline(mode: .server, initialLocalSettings: settings) { stream in
                        stream.eventLoop.makeCompletedFuture {
                            try stream.pipeline.syncOperations.addHandler(MockHTTP2Stream(handler: handler))
                        }
                    }.map { _ in }
                }
            }
            .bind(host: host, port: port).get()
        return MockHTTP2Server(port: channel.localAddress?.port ?? port, channel: channel, connections: connections)
    }

    private init(port: Int, channel: any Channel, connections: ConnectionCount) {
        self.port = port
        self.channel = channel
        self.connections = connections
    }

    public var url: String { "https://127.0.0.1:\(port)" }

    public func stop() async {
        try? await channel.close()
    }
}

/// One request: collect headers and body, ask the handler, write its answer.
private final class MockHTTP2Stream: ChannelInboundHandler {
    typealias InboundIn = HTTP2Frame.FramePayload
    typealias OutboundOut = HTTP2Frame.FramePayload

    private let handler: @Sendable (MockHTTPRequest) -> MockHTTPResponse
    private var headers = HPACKHeaders()
    private var body = ByteBuffer()

    init(handler: @escaping @Sendable (MockHTTPRequest) -> MockHTTPResponse) {
        self.handler = handler
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .headers(let frame):
            headers = frame.headers
            if frame.endStream { respond(context: context) }
        case .data(let frame):
            if case .byteBuffer(var buffer) = frame.data { body.writeBuffer(&buffer) }
            if frame.endStream { respond(context: context) }
        default:
            break
        }
    }

    private func respond(context: ChannelHandlerContext) {
        var regular: [String: String] = [:]
        for (name, value, _) in headers where !name.hasPrefix(":") { regular[name.lowercased()] = value }
        let request = MockHTTPRequest(
            method: headers.first(name: ":method") ?? "",
            path: headers.first(name: ":path") ?? "",
            headers: regular,
            body: Data(body.readableBytesView)
        )
        let response = handler(request)
        if response.dropsConnection {
            // The stream's parent is the TCP connection.
            context.channel.parent?.close(promise: nil)
            return
        }
        if response.silencesConnection {
            try? context.channel.parent?.pipeline.syncOperations.handler(type: SilenceHandler.self).silence()
            return
        }
        if response.refusesStream {
            context.writeAndFlush(wrapOutboundOut(.rstStream(.refusedStream)), promise: nil)
            return
        }
        var responseHeaders = HPACKHeaders([(":status", String(response.status))])
        for (name, value) in response.headers { responseHeaders.add(name: name, value: value) }
        // Which TCP connection answered (the client's port), so tests can tell connections apart.
        responseHeaders.add(name: "x-mock-connection", value: String(context.channel.parent?.remoteAddress?.port ?? 0))
        let payload: ByteBuffer? = response.body.isEmpty ? nil : ByteBuffer(bytes: response.body)
        let write = {
            if response.informational {
                context.write(self.wrapOutboundOut(.headers(.init(headers: HPACKHeaders([(":status", "100")])))), promise: nil)
            }
            context.write(self.wrapOutboundOut(.headers(.init(headers: responseHeaders, endStream: payload == nil))), promise: nil)
            if let payload { context.write(self.wrapOutboundOut(.data(.init(data: .byteBuffer(payload), endStream: true))), promise: nil) }
            context.flush()
            if response.goesAway, let streamID = try? context.channel.syncOptions?.getOption(HTTP2StreamChannelOptions.streamID) {
                let goAway = HTTP2Frame(streamID: .rootStream, payload: .goAway(lastStreamID: streamID, errorCode: .noError, opaqueData: nil))
                context.channel.parent?.writeAndFlush(goAway, promise: nil)
            }
        }
        // Written from a task of its own, never from inside the read: NIO's stream multiplexer holds a
        // stream's flush while its connection is reading, until the read completes, and under load a
        // read was seen to end without that completion, leaving answers unsent until the next read.
        let bound = NIOLoopBound(write, eventLoop: context.eventLoop)
        if response.delayMilliseconds > 0 {
            context.eventLoop.scheduleTask(in: .milliseconds(Int64(response.delayMilliseconds))) { bound.value() }
        } else {
            context.eventLoop.execute { bound.value() }
        }
    }
}

/// Sits under HTTP/2 on a mock connection; once silenced it drops every byte the client sends, so
/// nothing on the connection is answered again, PINGs included.
final class SilenceHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    private var silenced = false

    func silence() {
        silenced = true
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !silenced else { return }
        context.fireChannelRead(data)
    }
}
