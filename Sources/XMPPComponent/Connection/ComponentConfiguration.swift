import XMLStream

/// How to reach the XMPP server for one component domain, and how patient to be with it.
public struct ComponentConfiguration: Sendable {
    /// The component's own domain, e.g. `push.example.com`.
    public var domain: String
    /// The shared secret configured on the server (`component_secret` in Prosody).
    public var secret: String
    public var host: String
    public var port: Int
    /// How often a whitespace keepalive is sent on an idle stream.
    public var keepaliveInterval: Duration
    public var connectTimeout: Duration
    public var handshakeTimeout: Duration
    public var reconnectSchedule: any ReconnectSchedule
    /// When the server refuses the domain with `conflict` (another connection holds it, as Prosody
    /// answers a second one), retry at this fixed interval, without growth, as a hot standby that takes
    /// over within it when the holder goes. Nil treats `conflict` like any other refusal.
    public var standbyRetry: Duration?
    /// A connection that stayed up this long starts the schedule again from its first attempt.
    public var healthyConnectionDuration: Duration
    /// On shutdown, how long in-flight requests may take before the stream is closed anyway.
    public var drainTimeout: Duration
    /// The text of the `wait` error that answers requests still unfinished at the drain deadline.
    public var drainReplyText: String
    /// Requests handled at once on this connection; beyond it the server is told to wait.
    public var maximumConcurrentRequests: Int
    public var parserLimits: XMLStreamParser.Limits
    /// The connection is read at most once per this interval under sustained traffic, so that stanzas
    /// arriving one by one are handled and answered together (`ReadPacingHandler`); zero reads each at
    /// once.
    public var readInterval: Duration

    public init(
        domain: String,
        secret: String,
        host: String = "127.0.0.1",
        port: Int = 5347,
        keepaliveInterval: Duration = .seconds(60),
        connectTimeout: Duration = .seconds(10),
        handshakeTimeout: Duration = .seconds(10),
        reconnectSchedule: any ReconnectSchedule = FixedReconnectDelay(.seconds(1)),
        standbyRetry: Duration? = nil,
        healthyConnectionDuration: Duration = .seconds(60),
        drainTimeout: Duration = .seconds(10),
        drainReplyText: String = "service is restarting",
        maximumConcurrentRequests: Int = 10_000,
        parserLimits: XMLStreamParser.Limits = .init(),
        readInterval: Duration = .zero
    ) {
        self.domain = domain
        self.secret = secret
        self.host = host
        self.port = port
        self.keepaliveInterval = keepaliveInterval
        self.connectTimeout = connectTimeout
        self.handshakeTimeout = handshakeTimeout
        self.reconnectSchedule = reconnectSchedule
        self.standbyRetry = standbyRetry
        self.healthyConnectionDuration = healthyConnectionDuration
        self.drainTimeout = drainTimeout
        self.drainReplyText = drainReplyText
        self.maximumConcurrentRequests = maximumConcurrentRequests
        self.parserLimits = parserLimits
        self.readInterval = readInterval
    }
}
