import HeraldNIO
import HeraldSupport
import Logging
import NIOCore
import NIOHTTP2
import NIOPosix
import NIOSSL

/// One TLS connection of a client's pool, ready once TLS is done and the server's first SETTINGS
/// arrived; retiring once its handler said so (GOAWAY, silent peer, stream ids used up).
struct HTTP2Connection: Sendable {
    let channel: any Channel
    let handler: NIOLoopBound<ClientConnectionHandler>
    let retiring: RetiringFlag

    var isUsable: Bool { channel.isActive && !retiring.value }

    /// Sends `pending`'s request on this connection; it is completed once, on the channel's event loop.
    /// Must be called on that loop.
    func start(_ pending: ClientConnectionHandler.Pending) {
        handler.value.start(pending)
    }

    struct Settings: Sendable {
        var host: String
        var port: Int
        var sslContext: NIOSSLContext
        /// Deadline for TCP, TLS and the server's SETTINGS together.
        var connectTimeout: TimeAmount
        var stateMachine: ClientConnectionStateMachine<ClientConnectionHandler.Pending>.Configuration
        var liveness: ClientConnectionHandler.Liveness
        /// Connect to this proxy and tunnel to `host` through it.
        var proxy: EgressProxy.Server?
        var logger: Logger
    }

    /// Connects on `eventLoop`; `onRetire` runs on that loop once, when the connection stops taking requests.
    static func connect(
        _ settings: Settings,
        on eventLoop: any EventLoop,
        cancelled: EventLoopFuture<Void>,
        onRetire: @escaping @Sendable (HTTP2RetireReason) -> Void,
        onPingTimeout: @escaping @Sendable () -> Void
    ) -> EventLoopFuture<HTTP2Connection> {
        let host = settings.host
        // SNI carries host names only.
        let serverName = host.allSatisfy { $0.isNumber || $0 == "." || $0 == ":" } ? nil : host
        let authority = settings.port == 443 ? host : "\(host):\(settings.port)"
        let retiring = RetiringFlag()
        let ready = eventLoop.makePromise(of: NIOLoopBound<ClientConnectionHandler>.self)
        // The whole pipeline is built before the channel becomes active: were HTTP/2 added after
        // connect() returns, a TLS handshake finishing in between would hand the server's first frames
        // to a pipeline with nothing to read them.
        let connected = ClientBootstrap(group: eventLoop)
            .connectTimeout(settings.connectTimeout)
            .channelOption(.socketOption(.so_keepalive), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let handler = ClientConnectionHandler(
                        configuration: settings.stateMachine,
                        liveness: settings.liveness,
                        authority: authority,
                        onReady: { handler in ready.succeed(NIOLoopBound(handler, eventLoop: channel.eventLoop)) },
                        onRetire: { reason in
                            retiring.set()
                            onRetire(reason)
                        },
                        onPingTimeout: onPingTimeout
                    )
                    let sync = channel.pipeline.syncOperations
                    if let proxy = settings.proxy {
                        try sync.addHandler(ProxyTunnelHandler(
                            targetHost: host, targetPort: settings.port, authorization: proxy.authorization, logger: settings.logger
                        ))
                    }
                    try sync.addHandler(NIOSSLClientHandler(context: settings.sslContext, serverHostname: serverName))
                    // A tick's frames reach TLS as one buffer and one flush: records of up to 16 KiB, where
                    // each frame was a record of its own.
                    try sync.addHandler(WriteCoalescingHandler())
                    try sync.addHandler(FlushCoalescingHandler())
                    // Header blocks are not validated: the requests' are Herald's own (lowercase names, no
                    // connection headers), and of a response only the status and a few named headers are
                    // read, each parsed on its own. The validation was 2% of the CPU of every push.
                    try sync.addHandler(NIOHTTP2Handler(
                        mode: .client, initialSettings: ClientConnectionHandler.initialSettings(settings.stateMachine), headerBlockValidation: .disabled
                    ))
                    try sync.addHandler(handler)
                }
            }
            .connect(host: settings.proxy?.host ?? host, port: settings.proxy?.port ?? settings.port)
        // A TLS handshake or HTTP/2 preface that stalls must not hold the slot: the deadline covers all.
        let deadline = eventLoop.scheduleTask(in: settings.connectTimeout) {
            ready.fail(HTTP2ClientError.unavailable)
        }
        connected.whenFailure { ready.fail($0) }
        // The client shut down while this was connecting.
        cancelled.whenSuccess { ready.fail(HTTP2ClientError.shutDown) }
        connected.whenSuccess { channel in
            channel.closeFuture.whenComplete { _ in ready.fail(HTTP2ClientError.unavailable) }
        }
        ready.futureResult.whenComplete { result in
            deadline.cancel()
            if case .failure = result { connected.whenSuccess { $0.close(promise: nil) } }
        }
        return connected.and(ready.futureResult).map { channel, handler in
            HTTP2Connection(channel: channel, handler: handler, retiring: retiring)
        }
    }
}
