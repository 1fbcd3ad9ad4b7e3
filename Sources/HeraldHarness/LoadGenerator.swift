import Crypto
import Foundation
import NIOCore
import NIOPosix
import Synchronization

/// The XMPP server's side of XEP-0114 for the benchmark and the volume tests: accepts Herald's connection, checks its
/// handshake, then sends publishes or registrations (a bounded window in flight, or a fixed rate) and
/// times each reply. Or, behind a real XMPP server, a component of its own (`bench.example`) that sends
/// the same publishes through that server (`connect`).
///
/// Replies are recognised by scanning for `<iq … id='N'` rather than parsing XML, so the load
/// generator spends little of the machine's two cores.
public final class LoadGenerator: Sendable {
    public struct Run: Sendable {
        /// What each request is.
        public enum Kind: Sendable {
            /// A XEP-0357 publish to one of `registrations` nodes.
            case publish
            /// A p2 `register-push-fcm` command from a distinct account (`u<N>@d<N % domains>.example`),
            /// numbered from `firstAccount`.
            case register(firstAccount: Int, domains: Int)
        }

        public var kind: Kind = .publish
        /// Requests in the run (publishes or registrations).
        public var publishes: Int
        /// Publishes in flight at once (nil: use `rate`).
        public var window: Int?
        /// Publishes per second, sent open-loop.
        public var rate: Int?
        /// With `rate`: each publish in a write of its own, `1/rate` apart, as a server that is not busy
        /// sends them. Otherwise each millisecond's publishes leave in one write, as a busy server's do.
        public var spaced: Bool
        public var registrations: Int
        /// All publishes to one node.
        public var burst: Bool
        /// Nodes in order (each once per pass) instead of a pseudo-random walk.
        public var sequential: Bool
        public var timeLimit: Duration
        /// The share of nodes, in percent, whose token the vendor calls dead: node `i` is dead when
        /// `i % 100 < deadPercent`. Their publishes must be answered `item-not-found`, all others `result`.
        public var deadPercent: Int

        public init(
            publishes: Int, window: Int? = nil, rate: Int? = nil, spaced: Bool = false, registrations: Int, burst: Bool = false,
            sequential: Bool = false, timeLimit: Duration, kind: Kind = .publish, deadPercent: Int = 0
        ) {
            self.kind = kind
            self.deadPercent = deadPercent
            self.publishes = publishes
            self.window = window
            self.rate = rate
            self.spaced = spaced
            self.registrations = registrations
            self.burst = burst
            self.sequential = sequential
            self.timeLimit = timeLimit
        }
    }

    public struct Result: Sendable {
        public var latenciesNanoseconds: [UInt64]
        /// Publishes answered `result`.
        public var results: Int
        /// Error replies by condition (`wait/internal-server-error`, ...).
        public var errors: [String: Int]
        public var seconds: Double
        public var sent: Int
        /// Publishes answered otherwise than their node calls for (`result` for a live token,
        /// `item-not-found` for a dead one), and the first such reply.
        public var unexpected: Int
        public var firstUnexpected: String?
        /// The sum of the node indexes of the publishes answered `result`: the vendor's tokens end in the
        /// same indexes, so a vendor that counts what it accepted can tell whether the pushes it got are
        /// the ones these replies promised.
        public var resultIndexSum: UInt64
    }

    public let secret: String
    public let publishSecret: String
    public let port: Int
    private let channel: any Channel

    public static func start(secret: String, publishSecret: String) async throws -> LoadGenerator {
        let holder = ConnectionHolder()
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let handler = LoadHandler(secret: secret, publishSecret: publishSecret)
                    try channel.pipeline.syncOperations.addHandler(handler)
                    holder.set(channel: channel, handler: NIOLoopBound(handler, eventLoop: channel.eventLoop))
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        return LoadGenerator(secret: secret, publishSecret: publishSecret, channel: channel, holder: holder)
    }

    private let holder: ConnectionHolder

    /// Connects to an XMPP server's component port as the component `domain` and authenticates; its
    /// publishes then reach Herald (`push.bench`) through that server.
    public static func connect(host: String = "127.0.0.1", port: Int, domain: String, secret: String, publishSecret: String) async throws -> LoadGenerator {
        let holder = ConnectionHolder()
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let handler = LoadHandler(secret: secret, publishSecret: publishSecret, connectingAs: domain)
                    try channel.pipeline.syncOperations.addHandler(handler)
                    holder.set(channel: channel, handler: NIOLoopBound(handler, eventLoop: channel.eventLoop))
                }
            }
            .connect(host: host, port: port).get()
        return LoadGenerator(secret: secret, publishSecret: publishSecret, channel: channel, holder: holder)
    }

    private init(secret: String, publishSecret: String, channel: any Channel, holder: ConnectionHolder) {
        self.secret = secret
        self.publishSecret = publishSecret
        self.channel = channel
        self.port = channel.localAddress?.port ?? 0
        self.holder = holder
    }

    /// Waits (bounded) until Herald has connected and authenticated; returns when it did.
    public func waitForHandshake(timeout: Duration) async -> ContinuousClock.Instant? {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if let (channel, handler) = holder.current {
                if let done = try? await channel.eventLoop.submit({ handler.value.authenticatedAt }).get() {
                    return done
                }
            }
            try? await Task.sleep(for: .milliseconds(2))
        }
        return nil
    }

    public func run(_ run: Run) async throws -> Result {
        guard let (channel, handler) = holder.current else { throw LoadGeneratorError("Herald is not connected") }
        let promise = channel.eventLoop.makePromise(of: Result.self)
        channel.eventLoop.execute { handler.value.start(run, context: nil, promise: promise) }
        return try await promise.futureResult.get()
    }

    public func stop() async {
        if let (channel, _) = holder.current { try? await channel.close() }
        try? await channel.close()
    }
}

/// The newest connection, shared between the accept path and the benchmark driver.
final class ConnectionHolder: Sendable {
    private let value = Mutex<(channel: any Channel, handler: NIOLoopBound<LoadHandler>)?>(nil)
    func set(channel: any Channel, handler: NIOLoopBound<LoadHandler>) { value.withLock { $0 = (channel, handler) } }
    var current: (any Channel, NIOLoopBound<LoadHandler>)? { value.withLock { $0.map { ($0.channel, $0.handler) } } }
}

public struct LoadGeneratorError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

public final class LoadHandler: ChannelInboundHandler {
    public typealias InboundIn = ByteBuffer
    public typealias OutboundOut = ByteBuffer

    private enum Phase { case header, handshake, running }

    private let secret: String
    private let publishSecret: String
    /// Set when this side connects to a server as a component, rather than accepting Herald's connection.
    private let componentDomain: String?
    private var phase = Phase.header
    private var buffer = ByteBuffer()
    private let streamID = "bench-\(UInt32.random(in: .min ... .max))"
    private(set) var authenticatedAt: ContinuousClock.Instant?
    private var context: ChannelHandlerContext?

    // The run in progress.
    private var run: LoadGenerator.Run?
    private var promise: EventLoopPromise<LoadGenerator.Result>?
    private var sendTimes: [UInt64] = []
    /// The node index each publish went to, by id.
    private var nodeIndexes: [UInt32] = []
    private var unexpected = 0
    private var firstUnexpected: String?
    private var resultIndexSum: UInt64 = 0
    /// A reply freed a window slot: the next publishes go out, in one flush at the end of the read.
    private var flushOwed = false
    private var latencies: [UInt64] = []
    private var errors: [String: Int] = [:]
    private var results = 0
    private var sent = 0
    private var received = 0
    private var started: UInt64 = 0
    private var rateTask: RepeatedTask?
    private var deadlineTask: Scheduled<Void>?
    private var node = UInt64(0x9E37_79B9)
    private var prefix = ByteBuffer()
    private var middle = ByteBuffer()
    private var suffix = ByteBuffer()

    init(secret: String, publishSecret: String, connectingAs componentDomain: String? = nil) {
        self.secret = secret
        self.publishSecret = publishSecret
        self.componentDomain = componentDomain
    }

    public func channelActive(context: ChannelHandlerContext) {
        if let componentDomain {
            context.writeAndFlush(wrapOutboundOut(ByteBuffer(
                string: "<?xml version='1.0'?><stream:stream xmlns='jabber:component:accept' "
                    + "xmlns:stream='http://etherx.jabber.org/streams' to='\(componentDomain)'>"
            )), promise: nil)
        }
        context.fireChannelActive()
    }

    public func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    public func channelReadComplete(context: ChannelHandlerContext) {
        if flushOwed {
            flushOwed = false
            context.flush()
        }
        context.fireChannelReadComplete()
    }

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var incoming = unwrapInboundIn(data)
        buffer.writeBuffer(&incoming)
        if componentDomain != nil, phase != .running {
            return clientHandshake(context: context)
        }
        switch phase {
        case .header:
            // Herald's header: optional XML declaration, then <stream:stream …>.
            guard let view = buffer.getString(at: buffer.readerIndex, length: buffer.readableBytes),
                let streamStart = view.range(of: "<stream:stream"), let end = view[streamStart.upperBound...].firstIndex(of: ">")
            else { return }
            buffer.moveReaderIndex(forwardBy: view.utf8.distance(from: view.startIndex, to: end) + 1)
            context.writeAndFlush(
                wrapOutboundOut(ByteBuffer(string: "<?xml version='1.0'?><stream:stream xmlns:stream='http://etherx.jabber.org/streams' xmlns='jabber:component:accept' from='push.bench' id='\(streamID)'>")),
                promise: nil
            )
            phase = .handshake
            fallthrough
        case .handshake:
            guard let view = buffer.getString(at: buffer.readerIndex, length: buffer.readableBytes),
                let open = view.range(of: "<handshake>"), let close = view.range(of: "</handshake>")
            else { return }
            let digest = String(view[open.upperBound..<close.lowerBound])
            let expected = Insecure.SHA1.hash(data: Array((streamID + secret).utf8)).map { String(format: "%02x", $0) }.joined()
            buffer.moveReaderIndex(forwardBy: view.utf8.distance(from: view.startIndex, to: close.upperBound))
            guard digest == expected else {
                context.writeAndFlush(wrapOutboundOut(ByteBuffer(string: "<stream:error><not-authorized xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error></stream:stream>")), promise: nil)
                context.close(promise: nil)
                return
            }
            context.writeAndFlush(wrapOutboundOut(ByteBuffer(string: "<handshake/>")), promise: nil)
            authenticatedAt = .now
            phase = .running
        case .running:
            scanReplies()
        }
        if buffer.readerIndex > 65536 { buffer.discardReadBytes() }
    }

    /// The component's side of XEP-0114: the server's header gives the stream id, the digest of id and
    /// secret goes back, and `<handshake/>` says it is accepted.
    private func clientHandshake(context: ChannelHandlerContext) {
        guard let view = buffer.getString(at: buffer.readerIndex, length: buffer.readableBytes) else { return }
        switch phase {
        case .header:
            guard let streamStart = view.range(of: "<stream:stream"), let end = view[streamStart.upperBound...].firstIndex(of: ">") else { return }
            let tag = view[streamStart.lowerBound..<end]
            guard let idStart = tag.range(of: " id='") ?? tag.range(of: " id=\""), let idEnd = tag[idStart.upperBound...].firstIndex(where: { $0 == "'" || $0 == "\"" }) else {
                context.close(promise: nil)
                return
            }
            let streamID = String(tag[idStart.upperBound..<idEnd])
            let digest = Insecure.SHA1.hash(data: Array((streamID + secret).utf8)).map { String(format: "%02x", $0) }.joined()
            buffer.moveReaderIndex(forwardBy: view.utf8.distance(from: view.startIndex, to: end) + 1)
            context.writeAndFlush(wrapOutboundOut(ByteBuffer(string: "<handshake>\(digest)</handshake>")), promise: nil)
            phase = .handshake
            clientHandshake(context: context)
        case .handshake:
            if let accepted = view.range(of: "<handshake/>") {
                buffer.moveReaderIndex(forwardBy: view.utf8.distance(from: view.startIndex, to: accepted.upperBound))
                authenticatedAt = .now
                phase = .running
            } else if view.contains("<stream:error") {
                context.close(promise: nil)
            }
        case .running:
            break
        }
    }

    // MARK: Sending

    func start(_ run: LoadGenerator.Run, context _: ChannelHandlerContext?, promise: EventLoopPromise<LoadGenerator.Result>) {
        guard let context else { return promise.fail(LoadGeneratorError("no connection")) }
        self.run = run
        self.promise = promise
        sendTimes = Array(repeating: 0, count: run.publishes)
        nodeIndexes = Array(repeating: 0, count: run.publishes)
        unexpected = 0
        firstUnexpected = nil
        resultIndexSum = 0
        latencies = []
        latencies.reserveCapacity(run.publishes)
        errors = [:]
        results = 0
        sent = 0
        received = 0
        prefix = ByteBuffer(string: "<iq type='set' from='bench.example' to='push.bench' id='")
        middle = ByteBuffer(string: "'><pubsub xmlns='http://jabber.org/protocol/pubsub'><publish node='")
        suffix = ByteBuffer(string:
            "'><item><notification xmlns='urn:xmpp:push:0'><x xmlns='jabber:x:data' type='form'>"
            + "<field var='FORM_TYPE'><value>urn:xmpp:push:summary</value></field>"
            + "<field var='message-count'><value>1</value></field>"
            + "<field var='last-message-sender'/><field var='last-message-body'><value>New Message!</value></field>"
            + "</x></notification></item></publish><publish-options><x xmlns='jabber:x:data' type='submit'>"
            + "<field var='FORM_TYPE'><value>http://jabber.org/protocol/pubsub#publish-options</value></field>"
            + "<field var='secret'><value>\(publishSecret)</value></field></x></publish-options></pubsub></iq>")
        started = DispatchTime.now().uptimeNanoseconds
        let loopBound = NIOLoopBound(self, eventLoop: context.eventLoop)
        deadlineTask = context.eventLoop.scheduleTask(in: TimeAmount(run.timeLimit)) { loopBound.value.finish() }
        if let window = run.window {
            for _ in 0..<min(window, run.publishes) { sendOne(context: context) }
            context.flush()
        } else if let rate = run.rate {
            // Each tick (a millisecond, or one publish's share of a second when spaced) sends what the rate
            // owes by now: a tick that runs late (a repeated task waits its delay after the last run
            // ended) sends more rather than lowering the rate. Spaced, each publish is flushed alone.
            let tick: TimeAmount = run.spaced ? .nanoseconds(max(1, 1_000_000_000 / Int64(rate))) : .milliseconds(1)
            rateTask = context.eventLoop.scheduleRepeatedTask(initialDelay: .zero, delay: tick) { task in
                let handler = loopBound.value
                guard let context = handler.context, handler.sent < run.publishes else { return task.cancel() }
                let elapsed = Double(DispatchTime.now().uptimeNanoseconds - handler.started) / 1e9
                let owed = min(run.publishes, Int(Double(rate) * elapsed) + 1)
                while handler.sent < owed {
                    handler.sendOne(context: context)
                    if run.spaced { context.flush() }
                }
                context.flush()
            }
        }
    }

    private func sendOne(context: ChannelHandlerContext) {
        guard let run else { return }
        let id = sent
        sent += 1
        if case .register(let firstAccount, let domains) = run.kind {
            return sendRegistration(id: id, firstAccount: firstAccount, domains: domains, context: context)
        }
        let index: UInt64
        if run.burst {
            index = 0
        } else if run.sequential {
            index = UInt64(id % run.registrations)
        } else {
            // A cheap pseudo-random walk over the registrations, so lookups are not sequential.
            node = node &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            index = (node >> 33) % UInt64(run.registrations)
        }
        var stanza = context.channel.allocator.buffer(capacity: 900)
        stanza.writeImmutableBuffer(prefix)
        stanza.writeString(String(id))
        stanza.writeImmutableBuffer(middle)
        stanza.writeString(Self.node(Int(index)))
        stanza.writeImmutableBuffer(suffix)
        nodeIndexes[id] = UInt32(index)
        sendTimes[id] = DispatchTime.now().uptimeNanoseconds
        context.write(wrapOutboundOut(stanza), promise: nil)
    }

    private func sendRegistration(id: Int, firstAccount: Int, domains: Int, context: ChannelHandlerContext) {
        let account = firstAccount + id
        let stanza = "<iq type='set' from='u\(account)@d\(account % max(1, domains)).example/r' to='push.bench' id='\(id)'>"
            + "<command xmlns='http://jabber.org/protocol/commands' node='register-push-fcm' action='execute'>"
            + "<x xmlns='jabber:x:data' type='submit'><field var='token'><value>fcm-token-\(account)</value></field>"
            + "<field var='device-id'><value>device-\(account)</value></field></x></command></iq>"
        sendTimes[id] = DispatchTime.now().uptimeNanoseconds
        context.write(wrapOutboundOut(context.channel.allocator.buffer(string: stanza)), promise: nil)
    }

    /// The node of registration `index` in the runs' round-robin.
    public static func node(_ index: Int) -> String {
        let digits = String(index)
        return "n" + String(repeating: "0", count: max(0, 9 - digits.count)) + digits
    }

    // MARK: Receiving

    /// Replies are found with byte searches, and only an error reply becomes a String: the generator's
    /// CPU per publish is part of what the benchmark reports and must stay small beside Herald's.
    private func scanReplies() {
        while true {
            let consumed: Int? = buffer.withUnsafeReadableBytes { bytes in
                guard let start = ByteSearch.find(Self.iqOpen, in: bytes, from: 0),
                    let tagEnd = ByteSearch.find(Self.tagClose, in: bytes, from: start + Self.iqOpen.count)
                else { return nil }
                let selfClosing = bytes[tagEnd - 1] == UInt8(ascii: "/")
                var end = tagEnd
                if !selfClosing {
                    guard let close = ByteSearch.find(Self.iqClose, in: bytes, from: tagEnd) else { return nil }
                    end = close + Self.iqClose.count - 1
                }
                handleReply(tag: UnsafeRawBufferPointer(rebasing: bytes[start...tagEnd]), body: UnsafeRawBufferPointer(rebasing: bytes[tagEnd...end]))
                return end + 1
            }
            guard let consumed else { return }
            buffer.moveReaderIndex(forwardBy: consumed)
        }
    }

    private static let iqOpen = Array("<iq ".utf8)
    private static let iqClose = Array("</iq>".utf8)
    private static let tagClose = Array(">".utf8)
    private static let idAttribute = Array(" id='".utf8)
    private static let resultType = Array("type='result'".utf8)

    private func handleReply(tag: UnsafeRawBufferPointer, body: UnsafeRawBufferPointer) {
        guard let run, let idStart = ByteSearch.find(Self.idAttribute, in: tag, from: 0).map({ $0 + Self.idAttribute.count }) else { return }
        var id = 0
        var index = idStart
        while index < tag.count, tag[index] >= 0x30, tag[index] <= 0x39 {
            id = id * 10 + Int(tag[index] - 0x30)
            index += 1
        }
        guard index > idStart, index < tag.count, tag[index] == UInt8(ascii: "'"), id < sendTimes.count else { return }
        latencies.append(DispatchTime.now().uptimeNanoseconds - sendTimes[id])
        received += 1
        let condition: String
        if ByteSearch.find(Self.resultType, in: tag, from: 0) != nil {
            results += 1
            condition = "result"
        } else {
            let text = String(decoding: body, as: UTF8.self)
            condition = ["item-not-found", "forbidden", "internal-server-error", "resource-constraint", "bad-request", "service-unavailable"]
                .first { text.contains("<\($0) ") || text.contains("<\($0)/") } ?? "other"
            errors[condition, default: 0] += 1
        }
        if case .publish = run.kind {
            let index = Int(nodeIndexes[id])
            let expected = index % 100 < run.deadPercent ? "item-not-found" : "result"
            if condition == "result" { resultIndexSum &+= UInt64(index) }
            if condition != expected {
                unexpected += 1
                if firstUnexpected == nil {
                    let reply = String(decoding: tag, as: UTF8.self) + String(decoding: body, as: UTF8.self).prefix(300)
                    firstUnexpected = "publish \(id) to node \(index): \(condition), expected \(expected): \(reply)"
                }
            }
        }
        if let context, run.window != nil, sent < run.publishes {
            sendOne(context: context)
            flushOwed = true
        }
        if received == run.publishes { finish() }
    }

    private func finish() {
        guard let promise else { return }
        self.promise = nil
        rateTask?.cancel()
        deadlineTask?.cancel()
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9
        promise.succeed(.init(
            latenciesNanoseconds: latencies, results: results, errors: errors, seconds: seconds, sent: sent,
            unexpected: unexpected, firstUnexpected: firstUnexpected, resultIndexSum: resultIndexSum
        ))
        run = nil
    }
}
