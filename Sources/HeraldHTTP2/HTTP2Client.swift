import Logging
import NIOCore
import NIOPosix
import NIOSSL
import Synchronization

/// An HTTP/2 client for one vendor host: a few long-lived TLS connections, each multiplexing many
/// streams.
///
/// Vendors want long-lived connections with load spread over several (Apple says so outright);
/// requests go round-robin over `connections` slots, each connected on first use and replaced when
/// its connection retires. A request a connection gives back unprocessed goes to another one, within
/// the request's deadline; one the server may have acted on is never sent again here.
///
/// Slot `i` lives on the group's event loop `i % loops`, so the connections spread over the loops; a
/// request made on one of them goes to a ready connection of that same loop when there is one, and
/// its whole exchange stays on that thread.
public final class HTTP2Client: Sendable {
    public let configuration: Configuration
    private let connectionSettings: HTTP2Connection.Settings
    private let eventLoopGroup: any EventLoopGroup
    private let loops: [any EventLoop]
    private let slots: Mutex<[Slot]>
    private let nextSlot = Atomic<Int>(0)
    private let isShutDown = Atomic<Bool>(false)
    /// Completed by `shutdown()`: connection attempts still under way give up and close.
    private let shutdownSignal: EventLoopPromise<Void>

    private enum Slot: Sendable {
        case idle
        case connecting(EventLoopFuture<HTTP2Connection>)
        case connected(HTTP2Connection)
    }

    public init(configuration: Configuration, eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton) throws {
        var tls = configuration.tls
        tls.applicationProtocols = ["h2"]
        self.configuration = configuration
        self.connectionSettings = HTTP2Connection.Settings(
            host: configuration.host,
            port: configuration.port,
            sslContext: try NIOSSLContext(configuration: tls),
            connectTimeout: TimeAmount(configuration.connectTimeout),
            stateMachine: .init(
                lastStreamID: configuration.lastStreamID,
                maximumResponseBytes: configuration.maximumResponseBytes,
                retireAfterTimeouts: configuration.retireAfterTimeouts
            ),
            liveness: .init(idlePingInterval: TimeAmount(configuration.idlePingInterval), pingTimeout: TimeAmount(configuration.pingTimeout)),
            proxy: configuration.proxy,
            logger: configuration.logger
        )
        self.eventLoopGroup = eventLoopGroup
        let loops = Array(eventLoopGroup.makeIterator())
        self.loops = loops.isEmpty ? [eventLoopGroup.next()] : loops
        self.shutdownSignal = eventLoopGroup.any().makePromise(of: Void.self)
        self.slots = Mutex(Array(repeating: .idle, count: configuration.connections))
    }

    deinit {
        // NIO reports a promise dropped unfulfilled; a client released without shutdown() fulfils it here.
        shutdownSignal.succeed()
    }

    /// Sends a request and collects the response, within the configured request timeout.
    public func execute(_ request: HTTP2Request) async throws -> HTTP2Response {
        try await withCheckedThrowingContinuation { continuation in
            execute(request) { continuation.resume(with: $0) }
        }
    }

    /// `execute` for callers that chain futures rather than await.
    public func executeFuture(_ request: HTTP2Request) -> EventLoopFuture<HTTP2Response> {
        let promise = (loops.first { $0.inEventLoop } ?? eventLoopGroup.any()).makePromise(of: HTTP2Response.self)
        execute(request, completion: promise.completeWith)
        return promise.futureResult
    }

    /// `execute` for the push path, which makes no future on the way: `completion` is called once, on
    /// one of the group's event loops, with the response or an `HTTP2ClientError`.
    public func execute(_ request: HTTP2Request, completion: @escaping @Sendable (Result<HTTP2Response, any Error>) -> Void) {
        let deadline = NIODeadline.now() + TimeAmount(request.timeout ?? configuration.requestTimeout)
        // Each try goes to the next slot; every connection may refuse it at most once.
        attempt(ClientConnectionHandler.Pending(
            request: request, deadline: deadline, triesLeft: configuration.connections + 1, client: self, completion: completion
        ))
    }

    private func attempt(_ pending: ClientConnectionHandler.Pending) {
        let (index, ready) = chooseSlot()
        if let connection = ready {
            // The common case: no connect to wait for, so no deadline guard and no timer for it.
            Self.start(pending, on: connection)
        } else {
            connection(at: index, deadline: pending.deadline).whenComplete { result in
                switch result {
                case .success(let connection): Self.start(pending, on: connection)
                case .failure(let error): pending.complete(.failure(error))
                }
            }
        }
    }

    /// What a connection's answer to `pending` means: the answer, or, for a request it gave back
    /// unprocessed, another try on another connection while tries and time are left.
    func settle(_ pending: ClientConnectionHandler.Pending, _ result: Result<HTTP2Response, any Error>) {
        guard case .failure(let error) = result else { return pending.finish(result) }
        guard error is RequestNotProcessed else {
            // Connect failures (refused, TLS, DNS): the request never reached the server.
            return pending.finish(.failure(error as? HTTP2ClientError ?? .unavailable))
        }
        guard pending.triesLeft > 1, NIODeadline.now() < pending.deadline, !isShutDown.load(ordering: .relaxed) else {
            return pending.finish(.failure(HTTP2ClientError.unavailable))
        }
        configuration.onEvent?(.requestRerouted)
        pending.triesLeft -= 1
        attempt(pending)
    }

    /// Starts `pending` on `connection`'s event loop: at once when called there, the common case.
    private static func start(_ pending: ClientConnectionHandler.Pending, on connection: HTTP2Connection) {
        let eventLoop = connection.channel.eventLoop
        if eventLoop.inEventLoop {
            connection.start(pending)
        } else {
            eventLoop.execute { connection.start(pending) }
        }
    }

    /// Closes every connection; requests on them fail.
    public func shutdown() async {
        isShutDown.store(true, ordering: .relaxed)
        shutdownSignal.succeed()
        let connections = slots.withLock { slots in
            defer { slots = Array(repeating: .idle, count: slots.count) }
            return slots.compactMap { if case .connected(let connection) = $0 { connection } else { nil } }
        }
        for connection in connections { try? await connection.channel.close() }
    }

    /// The slot's connection, connecting it first if needed (concurrent callers share one attempt);
    /// fails with `unavailable` if it is not ready by `deadline`.
    private func connection(at index: Int, deadline: NIODeadline) -> EventLoopFuture<HTTP2Connection> {
        let future = connection(at: index)
        let eventLoop = future.eventLoop
        let promise = eventLoop.makePromise(of: HTTP2Connection.self)
        let timer = eventLoop.scheduleTask(deadline: deadline) { promise.fail(HTTP2ClientError.unavailable) }
        future.whenComplete { result in
            timer.cancel()
            promise.completeWith(result)
        }
        return promise.futureResult
    }

    /// The next slot round-robin, preferring a ready connection on the calling thread's own event loop;
    /// with that slot's connection if it is ready.
    private func chooseSlot() -> (Int, HTTP2Connection?) {
        let counter = Int(nextSlot.wrappingAdd(1, ordering: .relaxed).oldValue.magnitude % UInt(Int.max))
        let connections = configuration.connections
        if loops.count > 1, let local = loops.firstIndex(where: { $0.inEventLoop }), local < connections {
            // The slots on this loop are local, local + loops, local + 2 * loops, ...
            let onThisLoop = (connections - local + loops.count - 1) / loops.count
            let index = local + (counter % onThisLoop) * loops.count
            if let connection = readyConnection(at: index) { return (index, connection) }
        }
        let index = counter % connections
        return (index, readyConnection(at: index))
    }

    private func readyConnection(at index: Int) -> HTTP2Connection? {
        slots.withLock { slots in
            if case .connected(let connection) = slots[index], connection.isUsable { return connection }
            return nil
        }
    }

    private func connection(at index: Int) -> EventLoopFuture<HTTP2Connection> {
        let eventLoop = loops[index % loops.count]
        if isShutDown.load(ordering: .relaxed) { return eventLoop.makeFailedFuture(HTTP2ClientError.shutDown) }
        return slots.withLock { slots in
            switch slots[index] {
            case .connected(let connection) where connection.isUsable:
                return connection.channel.eventLoop.makeSucceededFuture(connection)
            case .connecting(let future):
                return future
            case .idle, .connected:
                // A retired connection lives on, unreferenced here, until its last request is answered.
                let future = connect(on: eventLoop, slot: index)
                slots[index] = .connecting(future)
                future.whenComplete { result in
                    self.slots.withLock { slots in
                        guard case .connecting = slots[index] else { return }
                        switch result {
                        case .success(let connection): slots[index] = .connected(connection)
                        case .failure: slots[index] = .idle
                        }
                    }
                    switch result {
                    case .success(let connection):
                        self.configuration.onEvent?(.opened)
                        connection.channel.closeFuture.whenComplete { _ in self.resetSlot(index, ifHolding: connection.channel) }
                    case .failure(let error):
                        self.configuration.onEvent?(.connectFailed)
                        self.configuration.logger.warning("vendor connection failed", metadata: [
                            HTTP2LogKey.host: "\(self.configuration.host)", HTTP2LogKey.error: "\(error)",
                        ])
                    }
                }
                return future
            }
        }
    }

    private func connect(on eventLoop: any EventLoop, slot: Int) -> EventLoopFuture<HTTP2Connection> {
        let configuration = configuration
        return HTTP2Connection.connect(
            connectionSettings,
            on: eventLoop,
            cancelled: shutdownSignal.futureResult,
            onRetire: { [weak self] reason in
                // Connections closed by shutdown() are not news.
                if self?.isShutDown.load(ordering: .relaxed) ?? true { return }
                configuration.onEvent?(.retired(reason))
                configuration.logger.info("vendor connection retired", metadata: [
                    HTTP2LogKey.host: "\(configuration.host)", HTTP2LogKey.retireReason: "\(reason.rawValue)",
                ])
            },
            onPingTimeout: { configuration.onEvent?(.pingTimedOut) }
        )
    }

    private func resetSlot(_ index: Int, ifHolding channel: any Channel) {
        slots.withLock { slots in
            if case .connected(let connection) = slots[index], connection.channel === channel {
                slots[index] = .idle
            }
        }
    }
}

