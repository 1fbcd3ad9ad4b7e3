import HeraldSupport
import Logging
import NIOSSL

/// How a vendor client's connections connect, check liveness and retire: the settings every vendor
/// shares (`vendors.*` in the configuration), apart from the per-app host, pool size and timeout.
public struct HTTP2ConnectionSettings: Sendable {
    public var connectTimeout: Duration
    public var idlePingInterval: Duration
    public var pingTimeout: Duration
    public var retireAfterTimeouts: Int
    public var lastStreamID: Int32
    /// Where connections go out: through this proxy, unless its `NO_PROXY` list names the host.
    public var proxy: EgressProxy?
    public var onEvent: (@Sendable (HTTP2ConnectionEvent) -> Void)?

    public init(
        connectTimeout: Duration = .seconds(10),
        idlePingInterval: Duration = .seconds(60),
        pingTimeout: Duration = .seconds(5),
        retireAfterTimeouts: Int = 3,
        lastStreamID: Int32 = Int32.max - 1024,
        proxy: EgressProxy? = nil,
        onEvent: (@Sendable (HTTP2ConnectionEvent) -> Void)? = nil
    ) {
        self.connectTimeout = connectTimeout
        self.idlePingInterval = idlePingInterval
        self.pingTimeout = pingTimeout
        self.retireAfterTimeouts = retireAfterTimeouts
        self.lastStreamID = lastStreamID
        self.proxy = proxy
        self.onEvent = onEvent
    }

    public func clientConfiguration(
        host: String,
        port: Int,
        tls: TLSConfiguration,
        connections: Int,
        requestTimeout: Duration,
        logger: Logger
    ) -> HTTP2Client.Configuration {
        HTTP2Client.Configuration(
            host: host,
            port: port,
            tls: tls,
            connections: connections,
            connectTimeout: connectTimeout,
            requestTimeout: requestTimeout,
            idlePingInterval: idlePingInterval,
            pingTimeout: pingTimeout,
            retireAfterTimeouts: retireAfterTimeouts,
            lastStreamID: lastStreamID,
            proxy: proxy?.server(for: host),
            logger: logger,
            onEvent: onEvent
        )
    }
}
