import NIOCore
import NIOHPACK
import NIOHTTP2

/// Drives `ClientConnectionStateMachine` for one connection: turns frames, NIO's window events and
/// timers into its events, and carries out the actions it returns. Sits after `NIOHTTP2Handler`,
/// without a stream multiplexer: a request is a table entry, not a child channel (at tens of
/// thousands of requests a second, child-channel setup was the client's largest single cost).
final class ClientConnectionHandler: ChannelDuplexHandler {
    typealias InboundIn = HTTP2Frame
    typealias OutboundIn = Never
    typealias OutboundOut = HTTP2Frame

    /// A request in flight, from its client's first try to its answer: a class, since the state
    /// machine's actions pass it along and a reference costs one retain per copy where the request's
    /// strings, arrays and body cost one each. A request a connection gives back unprocessed goes back
    /// to its client, which tries another connection with the same object.
    ///
    /// `@unchecked Sendable`: one connection holds it at a time, on that connection's event loop, and it
    /// moves to another loop only through `execute`, which orders the accesses.
    final class Pending: @unchecked Sendable {
        let request: HTTP2Request
        let deadline: NIODeadline
        /// Connections that may still be tried, this one included.
        var triesLeft: Int
        /// Decides what a connection's answer means (retry elsewhere or answer); nil answers as is.
        private let client: HTTP2Client?
        private let completion: (Result<HTTP2Response, any Error>) -> Void
        private var completed = false

        init(
            request: HTTP2Request, deadline: NIODeadline, triesLeft: Int = 1, client: HTTP2Client? = nil,
            completion: @escaping (Result<HTTP2Response, any Error>) -> Void
        ) {
            self.request = request
            self.deadline = deadline
            self.triesLeft = triesLeft
            self.client = client
            self.completion = completion
        }

        /// A connection's answer: through the client when there is one, else straight to the caller.
        func complete(_ result: Result<HTTP2Response, any Error>) {
            guard let client else { return finish(result) }
            client.settle(self, result)
        }

        /// Answers the request, once.
        func finish(_ result: Result<HTTP2Response, any Error>) {
            assert(!completed, "a vendor request answered twice")
            completed = true
            completion(result)
        }

        // A promise dropped unfulfilled was reported by NIO in debug builds; a dropped callback would
        // leave its push waiting for ever, so debug builds still say so.
        deinit { assert(completed, "a vendor request dropped without an answer") }
    }

    struct Liveness: Sendable {
        /// A connection that heard nothing for this long is sent a PING.
        var idlePingInterval: TimeAmount
        /// An unanswered PING retires the connection after this long.
        var pingTimeout: TimeAmount
    }

    typealias StateMachine = ClientConnectionStateMachine<Pending>

    private var state: StateMachine
    private let liveness: Liveness
    private let authority: String
    private var onReady: ((ClientConnectionHandler) -> Void)?
    private let onRetire: (HTTP2RetireReason) -> Void
    private let onPingTimeout: () -> Void
    private var context: ChannelHandlerContext?
    private var nextRequestID: StateMachine.RequestID = 0
    private var idleTimer: RepeatedTask?
    private var pingTimer: Scheduled<Void>?
    /// Requests' deadlines, soonest first, under one timer for the connection rather than a timer each
    /// (a scheduled task per request was a visible share of the client's cost). Answered requests are
    /// dropped from the front as they go, the rest when their deadline passes.
    private var deadlines = CircularBuffer<(deadline: NIODeadline, id: StateMachine.RequestID)>()
    private var deadlineTimer: (task: Scheduled<Void>, at: NIODeadline)?

    init(
        configuration: StateMachine.Configuration,
        liveness: Liveness,
        authority: String,
        onReady: @escaping (ClientConnectionHandler) -> Void,
        onRetire: @escaping (HTTP2RetireReason) -> Void,
        onPingTimeout: @escaping () -> Void
    ) {
        self.state = StateMachine(configuration: configuration)
        self.liveness = liveness
        self.authority = authority
        self.onReady = onReady
        self.onRetire = onRetire
        self.onPingTimeout = onPingTimeout
    }

    /// The SETTINGS `NIOHTTP2Handler` must send in its preface.
    static func initialSettings(_ configuration: StateMachine.Configuration) -> HTTP2Settings {
        StateMachine(configuration: configuration).initialSettings
    }

    var isAcceptingRequests: Bool { state.isAcceptingRequests }

    // MARK: Requests

    /// Sends `request`; `completion` is called once, on this event loop, with the response, an
    /// `HTTP2ClientError`, or `RequestNotProcessed` when the request should go to another connection.
    func start(_ request: HTTP2Request, deadline: NIODeadline, completion: @escaping (Result<HTTP2Response, any Error>) -> Void) {
        start(Pending(request: request, deadline: deadline, completion: completion))
    }

    /// Sends `pending`'s request; `pending` is completed once, on this event loop, as above.
    func start(_ pending: Pending) {
        guard context != nil else { return pending.complete(.failure(RequestNotProcessed())) }
        let deadline = pending.deadline
        let id = nextRequestID
        nextRequestID += 1
        // Deadlines nearly always arrive in order (one timeout per client); an earlier one finds its place.
        if let last = deadlines.last, deadline < last.deadline {
            let index = deadlines.firstIndex { $0.deadline > deadline } ?? deadlines.endIndex
            deadlines.insert((deadline, id), at: index)
        } else {
            deadlines.append((deadline, id))
        }
        perform(state.start(id, pending))
        armDeadlineTimer()
    }

    /// Points the connection's one timer at the soonest deadline still waiting.
    private func armDeadlineTimer() {
        while let first = deadlines.first, !state.isPending(first.id) { deadlines.removeFirst() }
        guard let context, let soonest = deadlines.first?.deadline else {
            deadlineTimer?.task.cancel()
            deadlineTimer = nil
            return
        }
        if let timer = deadlineTimer {
            if timer.at <= soonest { return }
            timer.task.cancel()
        }
        let bound = NIOLoopBound(self, eventLoop: context.eventLoop)
        deadlineTimer = (context.eventLoop.scheduleTask(deadline: soonest) { bound.value.deadlinesPassed(soonest) }, soonest)
    }

    /// The timer armed for `time` fired: every deadline up to it has passed (by the loop's own clock).
    private func deadlinesPassed(_ time: NIODeadline) {
        deadlineTimer = nil
        while let first = deadlines.first, first.deadline <= time {
            deadlines.removeFirst()
            perform(state.timedOut(first.id))
        }
        armDeadlineTimer()
    }

    // MARK: Channel events

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        perform(state.connectionLost())
        stopTimers()
        self.context = nil
    }

    func channelActive(context: ChannelHandlerContext) {
        // NIOHTTP2Handler, earlier in the pipeline, has written the preface by now.
        context.fireChannelActive()
        perform(state.prefaceSent())
        let bound = NIOLoopBound(self, eventLoop: context.eventLoop)
        idleTimer = context.eventLoop.scheduleRepeatedTask(initialDelay: liveness.idlePingInterval, delay: liveness.idlePingInterval) { _ in
            bound.value.perform(bound.value.state.idleCheck())
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        perform(state.connectionLost())
        stopTimers()
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        state.receivedFrame()
        switch frame.payload {
        case .headers(let payload):
            perform(state.receivedHeaders(frame.streamID, payload.headers, endStream: payload.endStream))
        case .data(let payload):
            guard case .byteBuffer(let buffer) = payload.data else { return }
            perform(state.receivedData(frame.streamID, buffer, endStream: payload.endStream))
        case .rstStream(let code):
            perform(state.receivedReset(frame.streamID, code))
        case .goAway(let lastStreamID, _, _):
            perform(state.receivedGoAway(lastStreamID: lastStreamID))
        case .settings(.settings(let settings)):
            perform(state.receivedSettings(settings))
        case .ping(let data, let ack):
            perform(state.receivedPing(data.integer, ack: ack))
        default:
            break
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? NIOHTTP2WindowUpdatedEvent, let size = event.inboundWindowSize {
            perform(state.inboundWindowChanged(event.streamID, size: size))
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // Stream-level errors name their stream; anything else ends the connection.
        if let streamError = error as? NIOHTTP2Errors.StreamError {
            perform(state.receivedReset(streamError.streamID, .protocolError))
        } else {
            perform(state.connectionLost())
        }
    }

    // MARK: Actions

    private func perform(_ actions: [StateMachine.Action]) {
        guard !actions.isEmpty else { return }
        var wrote = false
        for action in actions {
            switch action {
            case .send(_, let streamID, let pending):
                write(pending.request, on: streamID)
                wrote = true
            case .succeed(let id, let pending, let response):
                if deadlines.first?.id == id { armDeadlineTimer() }
                pending.complete(.success(response))
            case .fail(let id, let pending, let failure):
                if deadlines.first?.id == id { armDeadlineTimer() }
                switch failure {
                case .notProcessed: pending.complete(.failure(RequestNotProcessed()))
                case .lost(let error): pending.complete(.failure(error))
                }
            case .resetStream(let streamID):
                context?.write(wrapOutboundOut(HTTP2Frame(streamID: streamID, payload: .rstStream(.cancel))), promise: nil)
                wrote = true
            case .windowUpdate(let streamID, let increment):
                context?.write(wrapOutboundOut(HTTP2Frame(streamID: streamID, payload: .windowUpdate(windowSizeIncrement: increment))), promise: nil)
                wrote = true
            case .ping(let data):
                context?.write(wrapOutboundOut(HTTP2Frame(streamID: .rootStream, payload: .ping(HTTP2PingData(withInteger: data), ack: false))), promise: nil)
                wrote = true
                schedulePingTimeout(data)
            case .retire(let reason):
                onRetire(reason)
            case .close:
                stopTimers()
                context?.close(promise: nil)
            case .ready:
                onReady?(self)
                onReady = nil
            }
        }
        if wrote { context?.flush() }
    }

    private func write(_ request: HTTP2Request, on streamID: HTTP2StreamID) {
        guard let context else { return }
        var headers = HPACKHeaders()
        headers.reserveCapacity(request.headers.count + request.unindexedHeaders.count + 4)
        headers.add(name: ":method", value: request.method)
        headers.add(name: ":scheme", value: "https")
        headers.add(name: ":authority", value: authority)
        headers.add(name: ":path", value: request.path, indexing: request.indexesPath ? .indexable : .nonIndexable)
        for (name, value) in request.headers { headers.add(name: name, value: value) }
        for (name, value) in request.unindexedHeaders { headers.add(name: name, value: value, indexing: .nonIndexable) }
        let body = request.body.flatMap { $0.readableBytes > 0 ? $0 : nil }
        let written = context.eventLoop.makePromise(of: Void.self)
        let headersFrame = HTTP2Frame(streamID: streamID, payload: .headers(.init(headers: headers, endStream: body == nil)))
        context.write(wrapOutboundOut(headersFrame), promise: body == nil ? written : nil)
        if let body {
            // NIOHTTP2Handler splits and holds DATA to fit the server's frame size and send windows.
            context.write(wrapOutboundOut(HTTP2Frame(streamID: streamID, payload: .data(.init(data: .byteBuffer(body), endStream: true)))), promise: written)
        }
        let bound = NIOLoopBound(self, eventLoop: context.eventLoop)
        written.futureResult.whenFailure { _ in
            bound.value.perform(bound.value.state.receivedReset(streamID, .internalError))
        }
    }

    private func schedulePingTimeout(_ data: UInt64) {
        guard let context else { return }
        pingTimer?.cancel()
        let bound = NIOLoopBound(self, eventLoop: context.eventLoop)
        pingTimer = context.eventLoop.scheduleTask(in: liveness.pingTimeout) {
            let handler = bound.value
            let actions = handler.state.pingTimedOut(data)
            if !actions.isEmpty { handler.onPingTimeout() }
            handler.perform(actions)
        }
    }

    private func stopTimers() {
        idleTimer?.cancel()
        idleTimer = nil
        pingTimer?.cancel()
        pingTimer = nil
        deadlineTimer?.task.cancel()
        deadlineTimer = nil
    }
}
