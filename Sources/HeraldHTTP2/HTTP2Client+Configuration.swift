import HeraldSupport
import Logging
import NIOSSL

extension HTTP2Client {
    public struct Configuration: Sendable {
        public var host: String
        public var port: Int
        public var tls: TLSConfiguration
        public var connections: Int
        /// TCP connect, TLS handshake and the server's first SETTINGS, together.
        public var connectTimeout: Duration
        /// From the call to its answer, whatever connections it tries on the way.
        public var requestTimeout: Duration
        /// A connection that heard nothing from the server for this long is sent a PING.
        public var idlePingInterval: Duration
        /// An unanswered PING retires its connection after this long.
        public var pingTimeout: Duration
        /// Consecutive request timeouts on one connection after which it retires.
        public var retireAfterTimeouts: Int
        /// The highest stream id a connection uses before retiring (settable so tests can start near it).
        public var lastStreamID: Int32
        /// The largest response body kept (vendor error bodies are small JSON).
        public var maximumResponseBytes: Int
        /// An HTTP proxy to tunnel through with CONNECT, or nil to connect directly.
        public var proxy: EgressProxy.Server?
        public var logger: Logger
        /// Connection lifecycle events, for metrics; called on event-loop threads, so keep it cheap.
        public var onEvent: (@Sendable (HTTP2ConnectionEvent) -> Void)?

        public init(
            host: String,
            port: Int = 443,
            tls: TLSConfiguration = .makeClientConfiguration(),
            connections: Int = 2,
            connectTimeout: Duration = .seconds(10),
            requestTimeout: Duration = .seconds(10),
            idlePingInterval: Duration = .seconds(60),
            pingTimeout: Duration = .seconds(5),
            retireAfterTimeouts: Int = 3,
            lastStreamID: Int32 = Int32.max - 1024,
            maximumResponseBytes: Int = 64 * 1024,
            proxy: EgressProxy.Server? = nil,
            logger: Logger = Logger(label: "herald.http2"),
            onEvent: (@Sendable (HTTP2ConnectionEvent) -> Void)? = nil
        ) {
            self.host = host
            self.port = port
            self.tls = tls
            self.connections = max(1, connections)
            self.connectTimeout = connectTimeout
            self.requestTimeout = requestTimeout
            self.idlePingInterval = idlePingInterval
            self.pingTimeout = pingTimeout
            self.retireAfterTimeouts = max(1, retireAfterTimeouts)
            self.lastStreamID = max(1, lastStreamID)
            self.maximumResponseBytes = maximumResponseBytes
            self.proxy = proxy
            self.logger = logger
            self.onEvent = onEvent
        }
    }
}
