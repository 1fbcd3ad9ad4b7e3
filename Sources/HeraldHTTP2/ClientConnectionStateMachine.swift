import NIOCore
import NIOHPACK
import NIOHTTP2

/// The state of one client HTTP/2 connection: its requests, receive windows, the server's stream limit,
/// liveness pings and retirement. No I/O: each event returns the actions for `ClientConnectionHandler`
/// to carry out, so every rule here is tested without sockets.
///
/// `Pending` is whatever the driver keeps per request (its request and completion); the state machine only
/// stores it and hands it back in actions.
///
/// Send-side flow control (the server's INITIAL_WINDOW_SIZE and MAX_FRAME_SIZE for request bodies) is
/// enforced by `NIOHTTP2Handler`, which buffers and splits DATA frames to fit; what it does not do
/// without a multiplexer is give back receive window, queue streams above the server's
/// MAX_CONCURRENT_STREAMS in a way that lets them move elsewhere, or notice a silent peer. That is this.
struct ClientConnectionStateMachine<Pending> {
    struct Configuration: Sendable {
        /// The highest stream id this connection uses; it retires once the next id would exceed it.
        var lastStreamID: Int32 = Int32.max - 1024
        /// The first stream id (odd); tests start near the end of the range with it.
        var firstStreamID: Int32 = 1
        /// The connection receive window kept open for response bodies.
        var connectionWindow: Int = 8 * 1024 * 1024
        /// Each stream's receive window (advertised as SETTINGS_INITIAL_WINDOW_SIZE).
        var streamWindow: Int = 1024 * 1024
        /// Response bytes kept per request; more is read (and its window given back) but dropped.
        var maximumResponseBytes: Int = 64 * 1024
        /// Consecutive request timeouts after which the connection retires.
        var retireAfterTimeouts: Int = 3
    }

    typealias RequestID = UInt64

    /// How a request left this connection without an answer.
    enum Failure: Equatable {
        /// Never written, or refused by the server unprocessed: safe to send on another connection.
        case notProcessed
        /// Written, then the stream or connection failed: the server may have acted on it.
        case lost(HTTP2ClientError)
    }

    enum Action {
        /// Write the request's HEADERS (and DATA) on `streamID`.
        case send(RequestID, HTTP2StreamID, Pending)
        case succeed(RequestID, Pending, HTTP2Response)
        case fail(RequestID, Pending, Failure)
        case resetStream(HTTP2StreamID)
        case windowUpdate(HTTP2StreamID, increment: Int)
        case ping(UInt64)
        /// The connection takes no new requests from now on; tell the pool (once).
        case retire(HTTP2RetireReason)
        /// Close the channel; every request still on it has already been failed or answered.
        case close
        /// The server's first SETTINGS arrived: the connection is ready for requests.
        case ready
    }

    private struct Exchange {
        var pending: Pending
        var status: Int?
        var headers = HPACKHeaders()
        var body: ByteBuffer?
        var bodyBytes = 0
    }

    private enum Lifecycle: Equatable {
        /// Waiting for the server's SETTINGS.
        case starting
        case active
        case retiring(HTTP2RetireReason)
        case closed
    }

    let configuration: Configuration
    private var lifecycle = Lifecycle.starting
    /// Wider than a stream id so that counting past the last one cannot overflow.
    private var nextStreamID: Int64 = 1
    /// Requests on the wire, by stream.
    private var open: [HTTP2StreamID: (RequestID, Exchange)] = [:]
    private var streamOfRequest: [RequestID: HTTP2StreamID] = [:]
    /// Requests waiting for a stream slot, oldest first; never written, so free to move.
    private var queued = CircularBuffer<(RequestID, Pending)>()
    /// SETTINGS_MAX_CONCURRENT_STREAMS as the server last said; unlimited until it says.
    private var maximumConcurrentStreams = Int.max
    private var consecutiveTimeouts = 0
    private var outstandingPing: UInt64?
    /// A request timed out and its PING is unanswered: new requests wait unsent until the peer shows
    /// it is alive, so that if it is not they move to another connection instead of being lost with it.
    private var suspect = false
    private var nextPingData: UInt64 = 1
    private var sawFrameSinceIdleCheck = false

    init(configuration: Configuration) {
        self.configuration = configuration
        self.nextStreamID = Int64(configuration.firstStreamID | 1)
    }

    var isAcceptingRequests: Bool {
        switch lifecycle {
        case .starting, .active: true
        case .retiring, .closed: false
        }
    }

    var openStreams: Int { open.count }

    /// Whether the request is still waiting here, queued or on the wire. Asked for the oldest deadline
    /// after every answer, so it must not walk the queue: thousands wait there when the vendor is slow.
    func isPending(_ id: RequestID) -> Bool {
        streamOfRequest[id] != nil || queuedIndex(of: id) != nil
    }

    /// Where the request waits in the queue: ids are handed out in increasing order and the queue keeps
    /// its order (taken from the front, or one removed when it times out), so a binary search finds it.
    private func queuedIndex(of id: RequestID) -> CircularBuffer<(RequestID, Pending)>.Index? {
        guard let first = queued.first?.0, let last = queued.last?.0, first <= id, id <= last else { return nil }
        var low = 0
        var high = queued.count - 1
        while low <= high {
            let middle = (low + high) / 2
            let index = queued.index(queued.startIndex, offsetBy: middle)
            let found = queued[index].0
            if found == id { return index }
            if found < id { low = middle + 1 } else { high = middle - 1 }
        }
        return nil
    }
    var queuedRequests: Int { queued.count }

    /// The local SETTINGS for the preface: push off, and the stream receive window.
    var initialSettings: HTTP2Settings {
        [
            HTTP2Setting(parameter: .enablePush, value: 0),
            HTTP2Setting(parameter: .initialWindowSize, value: configuration.streamWindow),
            HTTP2Setting(parameter: .maxHeaderListSize, value: HPACKDecoder.defaultMaxHeaderListSize),
        ]
    }

    /// After the preface: widen the connection window from the protocol's 65,535 bytes.
    mutating func prefaceSent() -> [Action] {
        let increment = configuration.connectionWindow - 65_535
        return increment > 0 ? [.windowUpdate(.rootStream, increment: increment)] : []
    }

    // MARK: Requests

    mutating func start(_ id: RequestID, _ pending: Pending) -> [Action] {
        guard isAcceptingRequests else { return [.fail(id, pending, .notProcessed)] }
        if lifecycle == .starting || suspect || open.count >= maximumConcurrentStreams {
            queued.append((id, pending))
            return []
        }
        return openStream(id, pending)
    }

    private var lastUsableStreamID: Int64 { min(Int64(configuration.lastStreamID), Int64(Int32.max)) }

    private mutating func openStream(_ id: RequestID, _ pending: Pending) -> [Action] {
        let streamID = HTTP2StreamID(Int32(nextStreamID))
        // Client stream ids are odd and only grow; once the last is used the connection retires, and
        // closes when its streams are answered.
        nextStreamID += 2
        open[streamID] = (id, Exchange(pending: pending))
        streamOfRequest[id] = streamID
        let send = Action.send(id, streamID, pending)
        return nextStreamID > lastUsableStreamID ? [send] + retire(.streamIDsExhausted) : [send]
    }

    /// Opens streams for queued requests while the server's limit allows; hands the rest back to the
    /// pool when the connection can no longer take them.
    private mutating func drainQueue() -> [Action] {
        var actions: [Action] = []
        while !queued.isEmpty, lifecycle == .active, !suspect, open.count < maximumConcurrentStreams {
            let (id, pending) = queued.removeFirst()
            actions += openStream(id, pending)
        }
        if !isAcceptingRequests { actions += failQueued() }
        return actions
    }

    private mutating func failQueued() -> [Action] {
        let actions = queued.map { Action.fail($0.0, $0.1, .notProcessed) }
        queued.removeAll()
        return actions
    }

    /// The request's deadline passed.
    mutating func timedOut(_ id: RequestID) -> [Action] {
        if let index = queuedIndex(of: id) {
            let (_, pending) = queued.remove(at: index)
            return [.fail(id, pending, .notProcessed)]
        }
        guard let streamID = streamOfRequest[id], let (_, exchange) = remove(streamID) else { return [] }
        var actions: [Action] = [.fail(id, exchange.pending, .lost(.timedOut)), .resetStream(streamID)]
        consecutiveTimeouts += 1
        if consecutiveTimeouts >= configuration.retireAfterTimeouts {
            actions += retire(.requestTimeouts)
        } else if outstandingPing == nil, lifecycle == .active {
            // A timeout may mean a dead peer: ask, and retire the connection if it does not answer.
            actions.append(sendPing())
            suspect = true
        }
        return actions + drainQueue() + closeIfIdle()
    }

    // MARK: Frames

    mutating func receivedFrame() {
        sawFrameSinceIdleCheck = true
    }

    mutating func receivedSettings(_ settings: HTTP2Settings) -> [Action] {
        for setting in settings where setting.parameter == .maxConcurrentStreams {
            maximumConcurrentStreams = setting.value
        }
        var actions: [Action] = []
        if lifecycle == .starting {
            lifecycle = .active
            actions.append(.ready)
        }
        return actions + drainQueue()
    }

    mutating func receivedHeaders(_ streamID: HTTP2StreamID, _ headers: HPACKHeaders, endStream: Bool) -> [Action] {
        guard let (id, found) = open[streamID] else { return [] }
        var exchange = found
        if exchange.status == nil {
            guard let value = headers.first(name: ":status"), let code = Int(value) else {
                return finish(streamID, failure: .malformedResponse)
            }
            // 1xx is informational; the final answer follows on the same stream.
            if (100...199).contains(code) {
                return endStream ? finish(streamID, failure: .malformedResponse) : []
            }
            exchange.status = code
            exchange.headers = headers
        }
        // Anything after the final headers is trailers; nothing here reads them.
        open[streamID] = (id, exchange)
        return endStream ? complete(streamID) : []
    }

    mutating func receivedData(_ streamID: HTTP2StreamID, _ data: ByteBuffer, endStream: Bool) -> [Action] {
        guard let (id, found) = open[streamID] else { return [] }
        var exchange = found
        guard exchange.status != nil else { return finish(streamID, failure: .malformedResponse) }
        let room = configuration.maximumResponseBytes - exchange.bodyBytes
        if room > 0 {
            let kept = data.getSlice(at: data.readerIndex, length: min(room, data.readableBytes)) ?? ByteBuffer()
            if exchange.body == nil {
                exchange.body = kept
            } else {
                var kept = kept
                exchange.body!.writeBuffer(&kept)
            }
        }
        exchange.bodyBytes += data.readableBytes
        open[streamID] = (id, exchange)
        return endStream ? complete(streamID) : []
    }

    /// NIO reports how much the server may still send on a stream or the connection; give back what
    /// was consumed once less than half the target is left (the rule NIO's own multiplexer uses).
    mutating func inboundWindowChanged(_ streamID: HTTP2StreamID, size: Int) -> [Action] {
        let target: Int
        if streamID == .rootStream {
            target = configuration.connectionWindow
        } else {
            guard open[streamID] != nil else { return [] }
            target = configuration.streamWindow
        }
        guard size < target / 2 else { return [] }
        let increment = min(target - size, Int(Int32.max))
        return increment > 0 ? [.windowUpdate(streamID, increment: increment)] : []
    }

    mutating func receivedReset(_ streamID: HTTP2StreamID, _ code: HTTP2ErrorCode) -> [Action] {
        guard let (id, exchange) = remove(streamID) else { return [] }
        // REFUSED_STREAM is the server's promise that it did nothing with the request (RFC 9113 §8.7).
        let failure: Failure = code == .refusedStream ? .notProcessed : .lost(.streamReset)
        return [.fail(id, exchange.pending, failure)] + drainQueue() + closeIfIdle()
    }

    mutating func receivedGoAway(lastStreamID: HTTP2StreamID) -> [Action] {
        var actions = retire(.goAway)
        // Streams above lastStreamID were not processed and will not be (RFC 9113 §6.8).
        for streamID in open.keys.sorted() where streamID > lastStreamID {
            if let (id, exchange) = remove(streamID) { actions.append(.fail(id, exchange.pending, .notProcessed)) }
        }
        return actions + failQueued() + closeIfIdle()
    }

    mutating func receivedPing(_ data: UInt64, ack: Bool) -> [Action] {
        guard ack, data == outstandingPing else { return [] }
        outstandingPing = nil
        suspect = false
        return drainQueue()
    }

    // MARK: Liveness

    /// The idle timer: a connection that heard nothing since the last check is asked for a PING.
    mutating func idleCheck() -> [Action] {
        defer { sawFrameSinceIdleCheck = false }
        guard !sawFrameSinceIdleCheck, outstandingPing == nil, lifecycle == .active else { return [] }
        return [sendPing()]
    }

    /// The PING sent `data` had its time; unanswered, the connection is dead.
    mutating func pingTimedOut(_ data: UInt64) -> [Action] {
        guard outstandingPing == data, lifecycle != .closed else { return [] }
        outstandingPing = nil
        suspect = false
        return retire(.pingTimeout) + connectionLost()
    }

    private mutating func sendPing() -> Action {
        let data = nextPingData
        nextPingData &+= 1
        outstandingPing = data
        return .ping(data)
    }

    var pingOutstanding: UInt64? { outstandingPing }

    // MARK: Ending

    /// The channel closed or failed: written requests are lost, queued ones move elsewhere.
    mutating func connectionLost(_ error: HTTP2ClientError = .connectionLost) -> [Action] {
        guard lifecycle != .closed else { return [] }
        let wasRetiring = !isAcceptingRequests
        lifecycle = .closed
        var actions: [Action] = wasRetiring ? [] : [.retire(.closed)]
        for streamID in open.keys.sorted() {
            if let (id, exchange) = remove(streamID) { actions.append(.fail(id, exchange.pending, .lost(error))) }
        }
        return actions + failQueued() + [.close]
    }

    /// Stops taking requests; closes once the ones on the wire are answered.
    mutating func retire(_ reason: HTTP2RetireReason) -> [Action] {
        guard isAcceptingRequests else { return [] }
        lifecycle = .retiring(reason)
        return [.retire(reason)]
    }

    var retireReason: HTTP2RetireReason? {
        if case .retiring(let reason) = lifecycle { return reason }
        return nil
    }

    private mutating func closeIfIdle() -> [Action] {
        guard case .retiring = lifecycle, open.isEmpty else { return [] }
        lifecycle = .closed
        return failQueued() + [.close]
    }

    private mutating func complete(_ streamID: HTTP2StreamID) -> [Action] {
        guard let (id, exchange) = remove(streamID) else { return [] }
        guard let status = exchange.status else { return [.fail(id, exchange.pending, .lost(.malformedResponse))] + closeIfIdle() }
        consecutiveTimeouts = 0
        let response = HTTP2Response(status: status, headers: exchange.headers, body: exchange.body ?? ByteBuffer())
        // Appended to one array: `[a] + b + c` allocated a second array on every answer.
        var actions: [Action] = [.succeed(id, exchange.pending, response)]
        actions += drainQueue()
        actions += closeIfIdle()
        return actions
    }

    private mutating func finish(_ streamID: HTTP2StreamID, failure: HTTP2ClientError) -> [Action] {
        guard let (id, exchange) = remove(streamID) else { return [] }
        var actions: [Action] = [.fail(id, exchange.pending, .lost(failure)), .resetStream(streamID)]
        actions += drainQueue()
        actions += closeIfIdle()
        return actions
    }

    private mutating func remove(_ streamID: HTTP2StreamID) -> (RequestID, Exchange)? {
        guard let entry = open.removeValue(forKey: streamID) else { return nil }
        streamOfRequest[entry.0] = nil
        return entry
    }
}
