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
        let streams: NIOLoopBound<HTTP2StreamTable>
        /// Set once the server sent GOAWAY or stream ids ran out: new requests go to a new connection.
        let retiring: RetiringFlag

        var isUsable: Bool { channel.isActive && !retiring.value }
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
            // flatMap runs on the connection's event loop, where the stream table lives.
            let promise = connection.channel.eventLoop.makePromise(of: HTTP2Response.self)
            connection.streams.value.start(request, authority: authority, timeout: timeout, limit: limit, promise: promise)
            return promise.futureResult.flatMapErrorThrowing { error in
                // A dead connection is replaced on next use; the caller decides whether to retry.
                if !connection.isUsable { self.resetSlot(index, ifHolding: connection.channel) }
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
            case .connected(let connection) where connection.isUsable:
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
        let retiring = RetiringFlag()
        let streams = eventLoop.makePromise(of: NIOLoopBound<HTTP2StreamTable>.self)
        let connected = ClientBootstrap(group: eventLoop)
            .connectTimeout(TimeAmount(configuration.connectTimeout))
            .channelOption(.socketOption(.so_keepalive), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let sync = channel.pipeline.syncOperations
                    // The table is handed out only once HTTP/2 has seen the channel become active and
                    // sent its preface: the connect future completes before that.
                    let table = HTTP2StreamTable(retiring: retiring) { table in
                        streams.succeed(NIOLoopBound(table, eventLoop: channel.eventLoop))
                    }
                    try sync.addHandler(NIOSSLClientHandler(context: sslContext, serverHostname: serverName))
                    try sync.addHandler(FlushCoalescingHandler())
                    try sync.addHandler(NIOHTTP2Handler(mode: .client))
                    try sync.addHandler(table)
                }
            }
            .connect(host: host, port: configuration.port)
        connected.whenFailure { streams.fail($0) }
        // A channel that closes before becoming active never hands out its table.
        connected.whenSuccess { channel in channel.closeFuture.whenComplete { _ in streams.fail(HTTP2ClientError.streamClosed) } }
        return connected.and(streams.futureResult).map { channel, streams in
            Connection(channel: channel, streams: streams, retiring: retiring)
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

final class RetiringFlag: Sendable {
    private let flag = Atomic<Bool>(false)
    var value: Bool { flag.load(ordering: .relaxed) }
    func set() { flag.store(true, ordering: .relaxed) }
}

/// Every request on one connection, each on its own stream, handled at the frame level.
///
/// NIO's stream multiplexer would give each request a child channel with its own pipeline; at tens of
/// thousands of requests a second that setup was the largest single cost in the client. Requests
/// here are a table entry keyed by stream id, and responses are matched by the frame's stream id.
final class HTTP2StreamTable: ChannelDuplexHandler {
    typealias InboundIn = HTTP2Frame
    typealias OutboundIn = Never
    typealias OutboundOut = HTTP2Frame

    private struct Exchange {
        var promise: EventLoopPromise<HTTP2Response>
        var timer: Scheduled<Void>?
        var limit: Int
        var status: Int?
        var headers = HPACKHeaders()
        var body: ByteBuffer?
    }

    private let retiring: RetiringFlag
    private var onActive: ((HTTP2StreamTable) -> Void)?
    private var context: ChannelHandlerContext?
    private var exchanges: [HTTP2StreamID: Exchange] = [:]
    private var nextStreamID: Int32 = 1
    private var failure: (any Error)?

    init(retiring: RetiringFlag, onActive: @escaping (HTTP2StreamTable) -> Void) {
        self.retiring = retiring
        self.onActive = onActive
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func channelActive(context: ChannelHandlerContext) {
        context.fireChannelActive()
        onActive?(self)
        onActive = nil
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        failAll(HTTP2ClientError.streamClosed)
        self.context = nil
    }

    /// Opens a stream for `request`; `promise` completes with the response, an error, or a timeout.
    func start(_ request: HTTP2Request, authority: String, timeout: TimeAmount, limit: Int, promise: EventLoopPromise<HTTP2Response>) {
        guard let context, failure == nil, context.channel.isActive else {
            return promise.fail(failure ?? HTTP2ClientError.streamClosed)
        }
        let streamID = HTTP2StreamID(nextStreamID)
        // Client stream ids are odd and only grow; near the end of the range the connection retires.
        nextStreamID += 2
        if nextStreamID > Int32.max - 2 { retiring.set() }

        let bound = NIOLoopBound(self, eventLoop: context.eventLoop)
        let timer = context.eventLoop.scheduleTask(in: timeout) {
            bound.value.cancel(streamID, error: HTTP2ClientError.timedOut)
        }
        exchanges[streamID] = Exchange(promise: promise, timer: timer, limit: limit)

        var headers = HPACKHeaders()
        headers.reserveCapacity(request.headers.count + 4)
        headers.add(name: ":method", value: request.method)
        headers.add(name: ":scheme", value: "https")
        headers.add(name: ":authority", value: authority)
        headers.add(name: ":path", value: request.path)
        for (name, value) in request.headers { headers.add(name: name, value: value) }
        let body = request.body.flatMap { $0.readableBytes > 0 ? $0 : nil }
        let written = context.eventLoop.makePromise(of: Void.self)
        context.write(wrapOutboundOut(HTTP2Frame(streamID: streamID, payload: .headers(.init(headers: headers, endStream: body == nil)))),
                      promise: body == nil ? written : nil)
        if let body {
            context.write(wrapOutboundOut(HTTP2Frame(streamID: streamID, payload: .data(.init(data: .byteBuffer(body), endStream: true)))),
                          promise: written)
        }
        written.futureResult.whenFailure { error in bound.value.finish(streamID, .failure(error)) }
        context.flush()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        switch frame.payload {
        case .headers(let payload):
            guard var exchange = exchanges[frame.streamID] else { return }
            if exchange.status == nil, let value = payload.headers.first(name: ":status"), let code = Int(value) {
                exchange.status = code
                exchange.headers = payload.headers
            }
            exchanges[frame.streamID] = exchange
            if payload.endStream { complete(frame.streamID) }
        case .data(let payload):
            guard var exchange = exchanges[frame.streamID] else { return }
            if case .byteBuffer(var buffer) = payload.data, (exchange.body?.readableBytes ?? 0) < exchange.limit {
                if exchange.body == nil {
                    exchange.body = buffer
                } else {
                    exchange.body!.writeBuffer(&buffer)
                }
            }
            exchanges[frame.streamID] = exchange
            if payload.endStream { complete(frame.streamID) }
        case .rstStream:
            finish(frame.streamID, .failure(HTTP2ClientError.streamClosed))
        case .goAway(let lastStreamID, _, _):
            // Streams above lastStreamID were never processed: the caller may retry them elsewhere.
            retiring.set()
            for streamID in exchanges.keys where streamID > lastStreamID {
                finish(streamID, .failure(HTTP2ClientError.streamClosed))
            }
            if exchanges.isEmpty { context.close(promise: nil) }
        default:
            break
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        failAll(HTTP2ClientError.streamClosed)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // Stream-level errors name their stream; anything else ends the connection.
        if let streamError = error as? NIOHTTP2Errors.StreamError {
            finish(streamError.streamID, .failure(streamError.baseError))
            return
        }
        failAll(error)
        context.close(promise: nil)
    }

    private func complete(_ streamID: HTTP2StreamID) {
        guard let exchange = exchanges[streamID] else { return }
        guard let status = exchange.status else { return finish(streamID, .failure(HTTP2ClientError.malformedResponse)) }
        finish(streamID, .success(HTTP2Response(status: status, headers: exchange.headers, body: exchange.body ?? ByteBuffer())))
    }

    /// Gives up on a stream (timeout) and tells the server so.
    private func cancel(_ streamID: HTTP2StreamID, error: any Error) {
        guard exchanges[streamID] != nil else { return }
        finish(streamID, .failure(error))
        context?.writeAndFlush(wrapOutboundOut(HTTP2Frame(streamID: streamID, payload: .rstStream(.cancel))), promise: nil)
    }

    private func finish(_ streamID: HTTP2StreamID, _ result: Result<HTTP2Response, any Error>) {
        guard let exchange = exchanges.removeValue(forKey: streamID) else { return }
        exchange.timer?.cancel()
        exchange.promise.completeWith(result)
        // A retiring connection gets no new requests; once its last one is answered it is closed.
        if retiring.value, exchanges.isEmpty { context?.close(promise: nil) }
    }

    private func failAll(_ error: any Error) {
        if failure == nil { failure = error }
        let pending = exchanges
        exchanges.removeAll()
        for exchange in pending.values {
            exchange.timer?.cancel()
            exchange.promise.fail(error)
        }
    }
}
