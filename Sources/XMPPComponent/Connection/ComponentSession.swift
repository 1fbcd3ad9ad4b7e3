import HeraldNIO
import Logging
import NIOCore
import NIOPosix
import Synchronization
import XMLStream

/// One TCP connection to the XMPP server: the stream, the handshake, and the stanzas that flow until
/// either side closes. Reconnecting is the service's job; a session runs once.
final class ComponentSession: Sendable {
    private let configuration: ComponentConfiguration
    private let router: any StanzaRouting
    private let logger: Logger
    private let status: ComponentStatus
    private let stanzaSkipped: @Sendable (_ kind: String, _ reason: String) -> Void
    private let clock: any Clock<Duration>
    private let domain: JID

    private let machine: Mutex<ComponentStreamStateMachine>
    private let pending = PendingRequests()
    private let inFlight = Atomic<Int>(0)
    private let draining: DrainingFlag
    /// iq requests being handled, so that those still unanswered at the drain deadline get `wait`
    /// rather than silence. Whoever takes a request out of here answers it.
    private let unanswered = Mutex<(lastKey: Int, requests: [Int: StreamElement])>((0, [:]))
    private let drainSignal: AsyncStream<Void>.Continuation
    private let drainRequests: AsyncStream<Void>
    /// Signalled when the last request in flight finishes during a drain, so the drain need not poll.
    private let idleSignal: AsyncStream<Void>.Continuation
    private let idleWhileDraining: AsyncStream<Void>
    private let outbound = Mutex<NIOAsyncChannelOutboundWriter<ByteBuffer>?>(nil)
    /// Where the fast path's replies go (`ReadStanzaHandler`).
    let replies = ReplyWriter()
    /// What every handler is given; made once, not per stanza.
    private let context: ComponentContext

    init(
        configuration: ComponentConfiguration,
        router: any StanzaRouting,
        logger: Logger,
        status: ComponentStatus,
        clock: any Clock<Duration> = ContinuousClock(),
        stanzaSkipped: @escaping @Sendable (_ kind: String, _ reason: String) -> Void = { _, _ in }
    ) {
        self.clock = clock
        self.configuration = configuration
        self.router = router
        self.logger = logger
        self.status = status
        self.stanzaSkipped = stanzaSkipped
        self.domain = JID(domain: configuration.domain)
        self.machine = Mutex(ComponentStreamStateMachine(domain: configuration.domain, secret: configuration.secret))
        let draining = DrainingFlag()
        self.draining = draining
        self.context = ComponentContext(domain: JID(domain: configuration.domain), logger: logger, isDraining: { draining.isSet })
        (drainRequests, drainSignal) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        (idleWhileDraining, idleSignal) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    /// Whether stanzas flow: the handshake completed and the stream is not closing.
    var isEstablished: Bool { machine.withLock { $0.isEstablished } }

    /// Whether the handshake completed on this session.
    var wasEstablished: Bool { machine.withLock { $0.isEstablished || $0.state == .closing } }

    /// Connects and runs the stream until it ends. Returns why it ended (nil for our own clean close).
    func run(eventLoopGroup: any EventLoopGroup) async throws -> ComponentSessionError? {
        let limits = configuration.parserLimits
        let eventLoops = Array(eventLoopGroup.makeIterator())
        let channel = try await ClientBootstrap(group: eventLoopGroup)
            .connectTimeout(TimeAmount(configuration.connectTimeout))
            .channelOption(.socketOption(.so_keepalive), value: 1)
            .connect(host: configuration.host, port: configuration.port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    // A server that stops reading while it goes on sending is not read either once the
                    // replies back up past the channel's high-water mark: they would otherwise pile up
                    // here without bound, since the fast path writes replies without waiting.
                    try channel.pipeline.syncOperations.addHandler(BackPressureHandler())
                    if self.configuration.readInterval > .zero {
                        try channel.pipeline.syncOperations.addHandler(ReadPacingHandler(interval: TimeAmount(self.configuration.readInterval)))
                    }
                    // Replies answered in one tick leave in one write.
                    try channel.pipeline.syncOperations.addHandler(FlushCoalescingHandler())
                    let readers = self.router.makePayloadReaders()
                    try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(XMLStreamDecoder(limits: limits, readers: readers)))
                    try channel.pipeline.syncOperations.addHandler(ReadStanzaHandler(session: self, eventLoops: eventLoops))
                    return try NIOAsyncChannel<XMLStreamEvent, ByteBuffer>(wrappingChannelSynchronously: channel)
                }
            }
        return try await channel.executeThenClose { inbound, outbound in
            self.outbound.withLock { $0 = outbound }
            defer {
                self.outbound.withLock { $0 = nil }
                self.pending.failAll(ComponentRequestError.connectionLost)
            }
            return try await self.converse(inbound: inbound, outbound: outbound, channel: channel.channel)
        }
    }

    private func converse(
        inbound: NIOAsyncChannelInboundStream<XMLStreamEvent>,
        outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>,
        channel: any Channel
    ) async throws -> ComponentSessionError? {
        try await withThrowingDiscardingTaskGroup { group in
            var outcome: ComponentSessionError?
            let opening = machine.withLock { $0.connected() }
            outcome = try await perform(opening, channel: channel) ?? outcome

            group.addTask {
                try? await self.clock.sleep(for: self.configuration.handshakeTimeout)
                let action = self.machine.withLock { $0.handshakeTimedOut() }
                _ = try? await self.perform(action, channel: channel)
            }
            group.addTask { await self.drainWhenAsked(channel: channel) }

            do {
                for try await event in inbound {
                    let action = machine.withLock { $0.received(event) }
                    switch action {
                    case .deliver(let stanza):
                        dispatch(stanza, group: &group)
                    case .deliverRead(let read):
                        answer(read)
                    case .refuse(let skipped):
                        refuse(skipped, group: &group)
                    case .established:
                        let wasStandby = status.isStandby
                        status.update(.connected)
                        logger.info("component connected", metadata: [ComponentLogKey.serverAddress: "\(configuration.host):\(configuration.port)"])
                        if wasStandby {
                            logger.notice("component became primary: the domain's stanzas now come here")
                        }
                        group.addTask { await self.keepAlive() }
                    default:
                        if let error = try await perform(action, channel: channel) { outcome = error }
                    }
                }
                if let error = machine.withLock({ $0.connectionClosed() }) { outcome = error }
            } catch let error as XMLStreamError {
                let action = machine.withLock { $0.parseFailed(error) }
                outcome = try await perform(action, channel: channel) ?? .malformedInput(error)
            } catch {
                if let lost = machine.withLock({ $0.connectionClosed() }) { outcome = lost }
                logger.debug("component connection read failed", metadata: [ComponentLogKey.reason: "\(error)"])
            }
            group.cancelAll()
            drainSignal.finish()
            return outcome
        }
    }

    private func dispatch(_ stanza: StreamElement, group: inout ThrowingDiscardingTaskGroup<any Error>) {
        if stanza.isIQResponse {
            if !pending.resolve(stanza) {
                logger.debug("unexpected iq response dropped", metadata: [ComponentLogKey.stanzaID: "\(stanza.stanzaID ?? "")"])
            }
            return
        }
        if stanza.isIQRequest, inFlight.load(ordering: .relaxed) >= configuration.maximumConcurrentRequests {
            let reply = stanza.errorReply(.resourceConstraint)
            group.addTask { try? await self.send(reply) }
            return
        }
        let key = started(stanza)
        let context = self.context
        group.addTask {
            defer { self.finished() }
            let reply = await self.router.route(stanza, context: context)
            if let key, self.unanswered.withLock({ $0.requests.removeValue(forKey: key) }) == nil { return }
            if let reply { try? await self.send(reply) }
        }
    }

    /// Answers a stanza whose payload a reader read, without a task (the fast path, usually called by
    /// `ReadStanzaHandler` on the event loop), with the same accounting as a routed one: the
    /// concurrency limit, and a `wait` from the drain if it is still unanswered then.
    func answer(_ read: ReadStanza) {
        let request = read.stanza
        if request.isIQRequest, inFlight.load(ordering: .relaxed) >= configuration.maximumConcurrentRequests {
            replies.write(.error(.resourceConstraint), to: request)
            return
        }
        let key = started(request)
        router.routeRead(read, context: context) { answer in
            defer { self.finished() }
            if let key, self.unanswered.withLock({ $0.requests.removeValue(forKey: key) }) == nil { return }
            guard let answer else { return }
            self.replies.write(answer, to: request)
        }
    }

    /// Counts a request in; an iq request is kept for the drain to answer `wait` if nothing else does.
    private func started(_ stanza: StreamElement) -> Int? {
        inFlight.add(1, ordering: .relaxed)
        guard stanza.isIQRequest else { return nil }
        return unanswered.withLock { state in
            state.lastKey &+= 1
            state.requests[state.lastKey] = stanza
            return state.lastKey
        }
    }

    private func finished() {
        if inFlight.subtract(1, ordering: .relaxed).newValue == 0, draining.isSet {
            idleSignal.yield()
        }
    }

    /// A stanza over a per-stanza limit costs its sender only: an iq request is answered with an error
    /// (a server waiting for it would otherwise time out), a message or presence is dropped.
    private func refuse(_ skipped: SkippedStanza, group: inout ThrowingDiscardingTaskGroup<any Error>) {
        let stanza = skipped.element
        stanzaSkipped(stanza.name, skipped.reason.label)
        logger.warning("stanza over a limit skipped", metadata: [
            ComponentLogKey.reason: "\(skipped.reason)",
            ComponentLogKey.stanzaKind: "\(stanza.name)",
            ComponentLogKey.stanzaID: "\(stanza.stanzaID ?? "")",
        ])
        guard stanza.isIQRequest else { return }
        let reply = stanza.errorReply(.policyViolation("\(skipped.reason)"))
        group.addTask { try? await self.send(reply) }
    }

    /// Carries out a state-machine action; returns the error it reports, if any.
    private func perform(_ action: ComponentStreamStateMachine.Action, channel: any Channel) async throws -> ComponentSessionError? {
        switch action {
        case .none, .established, .deliver, .deliverRead, .refuse:
            return nil
        case .write(let text):
            try await write(text)
            return nil
        case .writeAndClose(let text, let error):
            if let text { try? await write(text) }
            try? await channel.close()
            return error
        }
    }

    private func write(_ text: String) async throws {
        guard let outbound = outbound.withLock({ $0 }) else { throw ComponentRequestError.notConnected }
        try await outbound.write(ByteBuffer(string: text))
    }

    /// Sends a stanza on this stream.
    func send(_ stanza: StreamElement) async throws {
        try await write(XMLSerializer.serialize(stanza, inheritedNamespace: Stanza.componentNamespace))
    }

    /// Sends an iq request and waits for its result or error.
    func request(_ iq: StreamElement, timeout: Duration) async throws -> StreamElement {
        guard let id = iq.stanzaID else { throw ComponentRequestError.missingID }
        let (responses, continuation) = AsyncThrowingStream.makeStream(of: StreamElement.self)
        pending.register(id, continuation)
        defer { pending.remove(id) }
        try await send(iq)
        let response = try await withThrowingTaskGroup(of: StreamElement.self) { group in
            group.addTask {
                for try await response in responses { return response }
                throw ComponentRequestError.connectionLost
            }
            group.addTask {
                try await self.clock.sleep(for: timeout)
                throw ComponentRequestError.timedOut
            }
            defer { group.cancelAll() }
            return try await group.next()!
        }
        if response.stanzaType == "error" {
            throw ComponentRequestError.stanzaError(StanzaError(stanza: response) ?? .serviceUnavailable)
        }
        return response
    }

    private func keepAlive() async {
        while !Task.isCancelled {
            do {
                try await clock.sleep(for: configuration.keepaliveInterval)
                try await write(" ")
            } catch {
                return
            }
        }
    }

    /// Asks the session to finish what it is doing and close the stream.
    func drain() {
        draining.set()
        drainSignal.yield()
    }

    private func drainWhenAsked(channel: any Channel) async {
        for await _ in drainRequests {
            logger.info("draining: new requests get wait, finishing those in flight", metadata: [
                ComponentLogKey.requests: "\(inFlight.load(ordering: .relaxed))",
            ])
            if inFlight.load(ordering: .relaxed) > 0 {
                await withTaskGroup(of: Void.self) { group in
                    group.addTask {
                        for await _ in self.idleWhileDraining where self.inFlight.load(ordering: .relaxed) == 0 { return }
                    }
                    group.addTask { try? await self.clock.sleep(for: self.configuration.drainTimeout) }
                    await group.next()
                    group.cancelAll()
                }
            }
            // Never silence: a server waiting for an answer hears `wait` and keeps the registration.
            let abandoned = unanswered.withLock { state in
                defer { state.requests = [:] }
                return Array(state.requests.values)
            }
            if !abandoned.isEmpty {
                logger.warning("requests still in flight at drain deadline answered with wait", metadata: [ComponentLogKey.requests: "\(abandoned.count)"])
            }
            for request in abandoned {
                try? await send(request.errorReply(StanzaError(.wait, "resource-constraint", text: configuration.drainReplyText)))
            }
            let action = machine.withLock { $0.close() }
            _ = try? await perform(action, channel: channel)
            // Give the server a moment to answer with its closing tag, then close regardless.
            try? await clock.sleep(for: .seconds(2))
            try? await channel.close()
            return
        }
    }
}

/// Set once the session starts draining for shutdown; read by every handler's context.
final class DrainingFlag: Sendable {
    private let value = Atomic<Bool>(false)

    var isSet: Bool { value.load(ordering: .relaxed) }

    func set() {
        value.store(true, ordering: .relaxed)
    }
}
