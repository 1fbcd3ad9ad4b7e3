import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
import Synchronization
import XMLStream

/// Keeps one component domain connected to its XMPP server: connects, authenticates, routes stanzas,
/// and reconnects with backoff when the connection is lost or refused. Drains and closes the stream
/// cleanly on graceful shutdown.
public final class ComponentService: Service, Sendable {
    public let configuration: ComponentConfiguration
    public let status = ComponentStatus()
    private let router: any StanzaRouting
    private let logger: Logger
    private let stanzaSkipped: @Sendable (_ kind: String, _ reason: String) -> Void
    /// Every wait and measurement of the component: reconnect delays, keepalives, timeouts, the drain.
    private let clock: any Clock<Duration>
    private let eventLoopGroup: any EventLoopGroup
    private let session = Mutex<ComponentSession?>(nil)
    private let stopping = Atomic<Bool>(false)

    public init(
        configuration: ComponentConfiguration,
        router: any StanzaRouting,
        logger: Logger,
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        clock: any Clock<Duration> = ContinuousClock(),
        stanzaSkipped: @escaping @Sendable (_ kind: String, _ reason: String) -> Void = { _, _ in }
    ) {
        self.configuration = configuration
        self.router = router
        self.stanzaSkipped = stanzaSkipped
        self.clock = clock
        var logger = logger
        logger[metadataKey: ComponentLogKey.componentDomain] = "\(configuration.domain)"
        self.logger = logger
        self.eventLoopGroup = eventLoopGroup
    }

    public func run() async {
        await withGracefulShutdownHandler {
            await reconnectLoop()
        } onGracefulShutdown: {
            self.stopping.store(true, ordering: .relaxed)
            self.session.withLock { $0 }?.drain()
        }
        status.update(.stopped)
    }

    private func reconnectLoop() async {
        var attempt = 0
        var onStandby = false
        while !stopping.load(ordering: .relaxed), !Task.isCancelled {
            status.update(onStandby ? .standby : .connecting)
            let session = ComponentSession(
                configuration: configuration, router: router, logger: logger, status: status, clock: clock, stanzaSkipped: stanzaSkipped
            )
            self.session.withLock { $0 = session }
            let elapsed = clock.stopwatch()
            let reason: String
            do {
                let outcome = try await session.run(eventLoopGroup: eventLoopGroup)
                reason = outcome.map(describe) ?? "closed"
            } catch {
                reason = "connection failed"
                logger.warning(
                    "component connection failed",
                    metadata: [ComponentLogKey.serverAddress: "\(configuration.host):\(configuration.port)", ComponentLogKey.reason: "\(error)"]
                )
            }
            self.session.withLock { $0 = nil }
            if stopping.load(ordering: .relaxed) || Task.isCancelled {
                status.update(.disconnected(reason: reason))
                break
            }
            if session.wasEstablished, onStandby {
                onStandby = false
            }

            let delay: Duration
            if let standbyRetry = configuration.standbyRetry, reason == "conflict", !session.wasEstablished {
                // Another instance holds the domain: stand by, trying at a fixed short interval.
                if !onStandby {
                    logger.notice(
                        "component on standby: another connection holds the domain",
                        metadata: [ComponentLogKey.delaySeconds: "\(Self.seconds(standbyRetry))"]
                    )
                }
                onStandby = true
                attempt = 0
                status.update(.standby)
                delay = standbyRetry
            } else {
                status.update(.disconnected(reason: reason))
                if session.wasEstablished, elapsed() >= configuration.healthyConnectionDuration {
                    attempt = 0
                }
                delay = configuration.reconnectSchedule.delay(attempt: attempt)
                attempt += 1
                logger.info(
                    "component reconnecting",
                    metadata: [ComponentLogKey.attempt: "\(attempt)", ComponentLogKey.delaySeconds: "\(Self.seconds(delay))"]
                )
            }
            do {
                try await cancelWhenGracefulShutdown { try await self.clock.sleep(for: delay) }
            } catch {
                break
            }
        }
    }

    /// Logs a session's end with its condition and returns a short reason for the status.
    private func describe(_ error: ComponentSessionError) -> String {
        switch error {
        case .streamError(let streamError):
            var metadata: Logger.Metadata = [ComponentLogKey.streamCondition: "\(streamError.condition)"]
            if let text = streamError.text { metadata[ComponentLogKey.streamErrorText] = "\(text)" }
            switch streamError.condition {
            case "not-authorized":
                logger.error("component authentication refused: check the component secret", metadata: metadata)
            case "conflict" where configuration.standbyRetry != nil:
                // Standing by: said once by the reconnect loop, not at every try.
                logger.debug("component domain held by another connection", metadata: metadata)
            case "conflict":
                logger.error("component domain already connected or not usable", metadata: metadata)
            case "host-unknown":
                logger.error("server does not know the component domain: check its configuration", metadata: metadata)
            default:
                logger.error("server closed the component stream with an error", metadata: metadata)
            }
            return streamError.condition
        case .malformedInput(let parseError):
            logger.error(
                "server sent malformed XML; stream closed",
                metadata: [ComponentLogKey.streamCondition: "\(parseError.streamErrorCondition)", ComponentLogKey.reason: "\(parseError)"]
            )
            return parseError.streamErrorCondition
        case .protocolViolation(let what):
            logger.error("server violated the component protocol", metadata: [ComponentLogKey.reason: "\(what)"])
            return "protocol-violation"
        case .handshakeTimeout:
            logger.error("component handshake timed out")
            return "handshake-timeout"
        case .closedByServer:
            logger.warning("server closed the component stream")
            return "closed-by-server"
        }
    }

    /// Seconds to the millisecond, as log lines show a delay.
    private static func seconds(_ duration: Duration) -> Double {
        let (seconds, attoseconds) = duration.components
        return (Double(seconds) * 1000 + Double(attoseconds / 1_000_000_000_000_000)).rounded() / 1000
    }

    /// Sends a stanza now; fails if the component is not connected.
    public func send(_ stanza: StreamElement) async throws {
        guard let session = session.withLock({ $0 }) else { throw ComponentRequestError.notConnected }
        try await session.send(stanza)
    }

    /// Sends an iq request and waits for the matching response, for at most `timeout`.
    public func request(_ iq: StreamElement, timeout: Duration = .seconds(10)) async throws -> StreamElement {
        guard let session = session.withLock({ $0 }), status.isConnected else {
            throw ComponentRequestError.notConnected
        }
        return try await session.request(iq, timeout: timeout)
    }
}

extension Clock where Duration == Swift.Duration {
    /// The time since now on this clock, read when called.
    fileprivate func stopwatch() -> @Sendable () -> Duration {
        let start = now
        return { start.duration(to: self.now) }
    }
}
