import Logging
import NIOCore
import NIOHPACK
import NIOHTTP2
import NIOPosix
import NIOSSL
import Synchronization

public struct HTTP2Request: Sendable {
    public var method: String
    public var path: String
    public var headers: [(String, String)]
    public var body: ByteBuffer?

    public init(method: String = "POST", path: String, headers: [(String, String)] = [], body: ByteBuffer? = nil) {
        self.method = method
        self.path = path
        self.headers = headers
        self.body = body
    }
}

public struct HTTP2Response: Sendable {
    public var status: Int
    public var headers: HPACKHeaders
    public var body: ByteBuffer

    public init(status: Int, headers: HPACKHeaders, body: ByteBuffer) {
        self.status = status
        self.headers = headers
        self.body = body
    }
}

public enum HTTP2ClientError: Error, Sendable, Hashable {
    case timedOut
    case streamClosed
    case malformedResponse
    case shutDown
}

/// An HTTP/2 client for one vendor host: a few TLS connections, each multiplexing many streams.
///
/// Vendors want long-lived connections with load spread over several (Apple says so outright);
/// requests go round-robin over `connections`, each connected on first use and reconnected when it dies.
public final class HTTP2Client: Sendable {
    public struct Configuration: Sendable {
        public var host: String
        public var port: Int
        public var tls: TLSConfiguration
        public var connections: Int
        public var connectTimeout: Duration
        public var requestTimeout: Duration
        /// The largest response body kept (vendor error bodies are small JSON).
        public var maximumResponseBytes: Int

        public init(
            host: String,
            port: Int = 443,
            tls: TLSConfiguration = .makeClientConfiguration(),
            connections: Int = 2,
            connectTimeout: Duration = .seconds(10),
            requestTimeout: Duration = .seconds(10),
            maximumResponseBytes: Int = 64 * 1024
        ) {
            self.host = host
            self.port = port
            self.tls = tls
            self.connections = max(1, connections)
            self.connectTimeout = connectTimeout
            self.requestTimeout = requestTimeout
            self.maximumResponseBytes = maximumResponseBytes
        }
    }

    private struct Connection: Sendable {
        let channel: any Channel
        let multiplexer: NIOHTTP2Handler.StreamMultiplexer
    }

    private enum Slot: Sendable {
        case idle
        case connecting(EventLoopFuture<Connection>)
        case connected(Connection)
    }

    public let configuration: Configuration
    private let sslContext: NIOSSLContext
    private let eventLoopGroup: any EventLoopGroup
    private let slots: Mutex<[Slot]>
    private let nextSlot = Atomic<Int>(0)
    private let isShutDown = Atomic<Bool>(false)

    public init(configuration: Configuration, eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton) throws {
        var tls = configuration.tls
        tls.applicationProtocols = ["h2"]
        self.configuration = configuration
        self.sslContext = try NIOSSLContext(configuration: tls)
        self.eventLoopGroup = eventLoopGroup
        self.slots = Mutex(Array(repeating: .idle, count: configuration.connections))
    }

    /// Sends a request and collects the response, within the configured request timeout.
    public func execute(_ request: HTTP2Request) async throws -> HTTP2Response {
        try await executeFuture(request).get()
    }

    /// `execute` for callers that chain futures rather than await.
    public func executeFuture(_ request: HTTP2Request) -> EventLoopFuture<HTTP2Response> {
        let index = Int(nextSlot.wrappingAdd(1, ordering: .relaxed).oldValue.magnitude % UInt(configuration.connections))
        let timeout = TimeAmount(configuration.requestTimeout)
        let limit = configuration.maximumResponseBytes
        let authority = configuration.port == 443 ? configuration.host : "\(configuration.host):\(configuration.port)"
        return connection(at: index).flatMap { connection in
            let promise = connection.channel.eventLoop.makePromise(of: HTTP2Response.self)
            connection.multiplexer.createStreamChannel { stream in
                stream.eventLoop.makeCompletedFuture {
                    let exchange = HTTP2Exchange(request: request, authority: authority, promise: promise, timeout: timeout, limit: limit)
                    try stream.pipeline.syncOperations.addHandler(exchange)
                }
            }.whenFailure { error in promise.fail(error) }
            return promise.futureResult.flatMapErrorThrowing { error in
                // A dead connection is replaced on next use; the caller decides whether to retry.
                if !connection.channel.isActive { self.resetSlot(index, ifHolding: connection.channel) }
                throw error
            }
        }
    }

    /// Closes every connection.
    public func shutdown() async {
        isShutDown.store(true, ordering: .relaxed)
        let connections = slots.withLock { slots in
            defer { slots = Array(repeating: .idle, count: slots.count) }
            return slots.compactMap { if case .connected(let connection) = $0 { connection } else { nil } }
        }
        for connection in connections { try? await connection.channel.close() }
    }

    /// The slot's connection, connecting it first if needed; concurrent callers share one attempt.
    private func connection(at index: Int) -> EventLoopFuture<Connection> {
        let eventLoop = eventLoopGroup.next()
        if isShutDown.load(ordering: .relaxed) { return eventLoop.makeFailedFuture(HTTP2ClientError.shutDown) }
        return slots.withLock { slots in
            switch slots[index] {
            case .connected(let connection) where connection.channel.isActive:
                return connection.channel.eventLoop.makeSucceededFuture(connection)
            case .connecting(let future):
                return future
            case .idle, .connected:
                let future = connect(on: eventLoop)
                slots[index] = .connecting(future)
                future.whenComplete { result in
                    self.slots.withLock { slots in
                        guard case .connecting = slots[index] else { return }
                        switch result {
                        case .success(let connection): slots[index] = .connected(connection)
                        case .failure: slots[index] = .idle
                        }
                    }
                    if case .success(let connection) = result {
                        connection.channel.closeFuture.whenComplete { _ in self.resetSlot(index, ifHolding: connection.channel) }
                    }
                }
                return future
            }
        }
    }

    private func connect(on eventLoop: any EventLoop) -> EventLoopFuture<Connection> {
        let host = configuration.host
        let sslContext = self.sslContext
        // SNI carries host names only.
        let serverName = host.allSatisfy { $0.isNumber || $0 == "." || $0 == ":" } ? nil : host
        // The whole pipeline is built before the channel becomes active: were HTTP/2 added after
        // connect() returns, a TLS handshake finishing in between would hand the server's first frames
        // to a pipeline with nothing to read them, and requests would wait for answers that never come.
        let multiplexer = eventLoop.makePromise(of: NIOHTTP2Handler.StreamMultiplexer.self)
        let connected = ClientBootstrap(group: eventLoop)
            .connectTimeout(TimeAmount(configuration.connectTimeout))
            .channelOption(.socketOption(.so_keepalive), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let sync = channel.pipeline.syncOperations
                    try sync.addHandler(NIOSSLClientHandler(context: sslContext, serverHostname: serverName))
                    try sync.addHandler(FlushCoalescingHandler())
                    multiplexer.succeed(
                        try sync.configureHTTP2Pipeline(mode: .client, connectionConfiguration: .init(), streamConfiguration: .init()) { stream in
                            stream.eventLoop.makeSucceededVoidFuture()
                        }
                    )
                }
            }
            .connect(host: host, port: configuration.port)
        connected.whenFailure { multiplexer.fail($0) }
        return connected.and(multiplexer.futureResult).map { channel, multiplexer in
            Connection(channel: channel, multiplexer: multiplexer)
        }
    }

    private func resetSlot(_ index: Int, ifHolding channel: any Channel) {
        slots.withLock { slots in
            if case .connected(let connection) = slots[index], connection.channel === channel {
                slots[index] = .idle
            }
        }
    }
}

/// Turns the flushes of the many streams written in one event-loop tick into one flush through TLS.
///
/// Every request flushes its stream, and each stream flush reaches the connection; under load that
/// meant a TLS record and a write system call per request. Deferring the flush to the end of the tick
/// sends everything written meanwhile in one go, at the cost of one task hop for a lone request.
final class FlushCoalescingHandler: ChannelOutboundHandler, RemovableChannelHandler {
    typealias OutboundIn = Any

    private var flushPending = false

    func flush(context: ChannelHandlerContext) {
        guard !flushPending else { return }
        flushPending = true
        context.eventLoop.assumeIsolated().execute {
            self.flushPending = false
            context.flush()
        }
    }
}

/// One request/response exchange on its own HTTP/2 stream.
private final class HTTP2Exchange: ChannelDuplexHandler {
    typealias InboundIn = HTTP2Frame.FramePayload
    typealias OutboundIn = Never
    typealias OutboundOut = HTTP2Frame.FramePayload

    private let request: HTTP2Request
    private let authority: String
    private let promise: EventLoopPromise<HTTP2Response>
    private let timeout: TimeAmount
    private let limit: Int
    private var status: Int?
    private var headers = HPACKHeaders()
    private var body = ByteBuffer()
    private var sent = false
    private var finished = false
    private var timer: Scheduled<Void>?

    init(request: HTTP2Request, authority: String, promise: EventLoopPromise<HTTP2Response>, timeout: TimeAmount, limit: Int) {
        self.request = request
        self.authority = authority
        self.promise = promise
        self.timeout = timeout
        self.limit = limit
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { send(context: context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        send(context: context)
        context.fireChannelActive()
    }

    private func send(context: ChannelHandlerContext) {
        guard !sent else { return }
        sent = true
        let channel = context.channel
        let exchange = NIOLoopBound(self, eventLoop: context.eventLoop)
        timer = context.eventLoop.scheduleTask(in: timeout) {
            exchange.value.finish(.failure(HTTP2ClientError.timedOut))
            channel.close(promise: nil)
        }
        var headers = HPACKHeaders()
        headers.reserveCapacity(request.headers.count + 4)
        headers.add(name: ":method", value: request.method)
        headers.add(name: ":scheme", value: "https")
        headers.add(name: ":authority", value: authority)
        headers.add(name: ":path", value: request.path)
        for (name, value) in request.headers { headers.add(name: name, value: value) }
        let hasBody = (request.body?.readableBytes ?? 0) > 0
        context.write(wrapOutboundOut(.headers(.init(headers: headers, endStream: !hasBody))), promise: nil)
        if hasBody, let body = request.body {
            context.write(wrapOutboundOut(.data(.init(data: .byteBuffer(body), endStream: true))), promise: nil)
        }
        context.flush()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .headers(let frame):
            if status == nil, let value = frame.headers.first(name: ":status"), let code = Int(value) {
                status = code
                headers = frame.headers
            }
            if frame.endStream { complete() }
        case .data(let frame):
            if case .byteBuffer(var buffer) = frame.data, body.readableBytes < limit {
                body.writeBuffer(&buffer)
            }
            if frame.endStream { complete() }
        default:
            break
        }
    }

    private func complete() {
        guard let status else { return finish(.failure(HTTP2ClientError.malformedResponse)) }
        finish(.success(HTTP2Response(status: status, headers: headers, body: body)))
    }

    func channelInactive(context: ChannelHandlerContext) {
        finish(.failure(HTTP2ClientError.streamClosed))
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        finish(.failure(error))
        context.close(promise: nil)
    }

    private func finish(_ result: Result<HTTP2Response, any Error>) {
        guard !finished else { return }
        finished = true
        timer?.cancel()
        promise.completeWith(result)
    }
}
