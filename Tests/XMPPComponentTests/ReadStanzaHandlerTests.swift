import Dispatch
import HeraldTesting
import Logging
import NIOCore
import NIOEmbedded
import NIOPosix
import ServiceLifecycleTestKit
import Synchronization
import Testing
import XMLStream

@testable import XMPPComponent

/// Reads `<fast xmlns='urn:test:fast' n='…'/>` payloads: the number, or -1.
private final class FastReader: StanzaPayloadReader {
    private var number = -1

    func accepts(stanza: StreamElement, payload name: String, namespace: String?) -> Bool {
        name == "fast" && namespace == "urn:test:fast"
    }

    func startElement(_ name: String, namespace: String?, attributes: XMLAttributeView, depth: Int) {
        if depth == 0 { number = attributes["n"].flatMap { Int($0) } ?? -1 }
    }

    func characters(_ text: UnsafeBufferPointer<UInt8>, depth: Int) {}
    func endElement(depth: Int) {}

    func finish() -> any Hashable & Sendable {
        defer { number = -1 }
        return number
    }

    func reset() { number = -1 }
}

/// Answers fast payloads as told, recording the event loop each was handled on.
private final class FastHandler: ImmediateIQHandler {
    enum Behaviour: Sendable {
        case result
        case error
        /// Answers from another thread, after a moment.
        case later
        /// Never answers.
        case never
    }

    let behaviour: Behaviour
    let handled = Mutex<[(number: Int, loop: ObjectIdentifier?)]>([])

    init(_ behaviour: Behaviour) {
        self.behaviour = behaviour
    }

    func makeReader() -> any StanzaPayloadReader { FastReader() }

    func handle(_ request: ReadStanza, context: ComponentContext, respond: @escaping @Sendable (IQAnswer) -> Void) {
        let loop = MultiThreadedEventLoopGroup.currentEventLoop.map { ObjectIdentifier($0 as AnyObject) }
        handled.withLock { $0.append((request.payload as? Int ?? -2, loop)) }
        switch behaviour {
        case .result: respond(.result)
        case .error: respond(.error(StanzaError(.modify, "bad-request", text: "number \(request.payload)")))
        case .later: DispatchQueue.global().asyncAfter(deadline: .now() + .milliseconds(20)) { respond(.result) }
        case .never: break
        }
    }
}

private final class Counter: Sendable {
    let value = Atomic<Int>(0)
}

/// Counts what reaches the async router, to show the fast path bypasses it.
private struct CountingRouter: StanzaRouting {
    var inner: ComponentRouter
    let routed: Counter

    func route(_ stanza: StreamElement, context: ComponentContext) async -> StreamElement? {
        routed.value.add(1, ordering: .relaxed)
        return await inner.route(stanza, context: context)
    }

    func makePayloadReaders() -> [any StanzaPayloadReader] { inner.makePayloadReaders() }

    func routeRead(_ read: ReadStanza, context: ComponentContext, respond: @escaping @Sendable (IQAnswer?) -> Void) {
        inner.routeRead(read, context: context, respond: respond)
    }
}

private func fast(_ number: Int, id: String? = nil, to: String = "push.example.com") -> String {
    "<iq type='set' id='\(id ?? "f\(number)")' from='example.org' to='\(to)'><fast xmlns='urn:test:fast' n='\(number)'/></iq>"
}

@Suite(.timeLimit(.minutes(1))) struct ReadStanzaHandlerTests {
    private func service(
        _ handler: FastHandler, port: Int, group: any EventLoopGroup, routed: Counter? = nil,
        maximumConcurrentRequests: Int = 10_000, drainTimeout: Duration = .seconds(2), readInterval: Duration = .zero
    ) -> ComponentService {
        var router = ComponentRouter(identity: testIdentity)
        router.register(immediate: handler)
        let configuration = ComponentConfiguration(
            domain: "push.example.com", secret: "s3cret", host: "127.0.0.1", port: port, reconnectSchedule: FixedReconnectDelay(.milliseconds(20)),
            drainTimeout: drainTimeout, maximumConcurrentRequests: maximumConcurrentRequests, readInterval: readInterval
        )
        let routing: any StanzaRouting = routed.map { CountingRouter(inner: router, routed: $0) } ?? router
        return ComponentService(configuration: configuration, router: routing, logger: Logger(label: "test"), eventLoopGroup: group)
    }

    @Test func aReadPayloadIsAnsweredWithoutTheAsyncRouterAndTheReplyIsTheUsualResult() async throws {
        try await withOwnEventLoop { group in
            let server = try await FakeComponentServer.start(secret: "s3cret", group: group)
            let handler = FastHandler(.result)
            let routed = Counter()
            let service = service(handler, port: server.port, group: group, routed: routed)
            try await whileRunning({ await service.run() }) {
                #expect(await eventually { service.status.isConnected })
                try await server.sendRaw(fast(7, id: "a&amp;b"))
                let reply = try await server.inbox.next { $0.stanzaID == "a&b" }
                #expect(reply == StreamElement("iq", namespace: Stanza.componentNamespace, ["type": "result", "id": "a&b", "from": "push.example.com", "to": "example.org"]))
                #expect(handler.handled.withLock { $0.map(\.number) } == [7])
                // A ping still takes the async path.
                try await server.sendRaw("<iq type='get' id='p' from='example.org' to='push.example.com'><ping xmlns='urn:xmpp:ping'/></iq>")
                _ = try await server.inbox.next { $0.stanzaID == "p" }
                #expect(routed.value.load(ordering: .relaxed) == 1, "only the ping was routed")
            }
            await server.stop()
        }
    }

    @Test func errorsAndRepliesFromOtherThreadsArriveToo() async throws {
        try await withOwnEventLoop { group in
            let server = try await FakeComponentServer.start(secret: "s3cret", group: group)
            for (behaviour, type) in [(FastHandler.Behaviour.error, "error"), (.later, "result")] {
                let service = service(FastHandler(behaviour), port: server.port, group: group)
                try await whileRunning({ await service.run() }) {
                    #expect(await eventually { service.status.isConnected })
                    try await server.sendRaw((0..<50).map { fast($0, id: "\(type)-\($0)") }.joined())
                    for index in 0..<50 {
                        let reply = try await server.inbox.next { $0.stanzaID == "\(type)-\(index)" }
                        #expect(reply.stanzaType == type)
                        if type == "error" { #expect(StanzaError(stanza: reply)?.text == "number \(index)") }
                    }
                }
            }
            await server.stop()
        }
    }

    @Test func aPayloadForAnotherAddressIsServiceUnavailable() async throws {
        try await withOwnEventLoop { group in
            let server = try await FakeComponentServer.start(secret: "s3cret", group: group)
            let handler = FastHandler(.result)
            let service = service(handler, port: server.port, group: group)
            try await whileRunning({ await service.run() }) {
                #expect(await eventually { service.status.isConnected })
                try await server.sendRaw(fast(1, id: "user", to: "someone@push.example.com") + fast(2, id: "resource", to: "push.example.com/r"))
                #expect(StanzaError(stanza: try await server.inbox.next { $0.stanzaID == "user" })?.condition == "service-unavailable")
                #expect(try await server.inbox.next { $0.stanzaID == "resource" }.stanzaType == "result", "the domain itself, with a resource")
                #expect(handler.handled.withLock { $0.map(\.number) } == [2])
            }
            await server.stop()
        }
    }

    /// A read that brings a backlog spreads it over the group's loops; every stanza is answered once.
    @Test func aBacklogIsSpreadOverTheLoopsAndEachStanzaAnsweredOnce() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
        let server = try await FakeComponentServer.start(secret: "s3cret", group: group)
        let handler = FastHandler(.result)
        let service = service(handler, port: server.port, group: group)
        let count = 1_000
        try await whileRunning({ await service.run() }) {
            #expect(await eventually { service.status.isConnected })
            try await server.sendRaw((0..<count).map { fast($0) }.joined())
            var replies = Set<String>()
            while replies.count < count {
                let reply = try await server.inbox.next { $0.stanzaID?.hasPrefix("f") == true }
                #expect(reply.stanzaType == "result")
                #expect(replies.insert(reply.stanzaID ?? "").inserted, "answered once")
            }
        }
        let handled = handler.handled.withLock { $0 }
        #expect(Set(handled.map(\.number)) == Set(0..<count))
        #expect(handled.count == count)
        #expect(Set(handled.compactMap(\.loop)).count == 2, "both loops took a share")
        await server.stop()
        try await group.shutdownGracefully()
    }

    /// A server that stops reading its component's stream while it goes on sending: the replies would
    /// pile up in Herald's memory without bound, so Herald stops reading too once its writes back up,
    /// and answers every stanza once the server reads again.
    @Test func aServerThatStopsReadingIsNotReadEitherAndNothingIsLost() async throws {
        try await withOwnEventLoop { group in
            let server = try await FakeComponentServer.start(secret: "s3cret", receiveBufferBytes: 16 * 1024, group: group)
            let handler = FastHandler(.result)
            let service = service(handler, port: server.port, group: group)
            // About 9 MB of replies, far past the socket buffers and the channel's 64 KiB high-water mark.
            let count = 30_000
            let padding = String(repeating: "x", count: 250)
            try await whileRunning({ await service.run() }) {
                #expect(await eventually { service.status.isConnected })
                try await server.setReading(false)
                try server.sendRawWithoutWaiting((0..<count).map { fast($0, id: "f\($0)-\(padding)") }.joined())
                // Until the answering stops: it must stop short of the whole burst.
                var answered = -1
                for _ in 0..<100 {
                    try await Task.sleep(for: .milliseconds(100))
                    let now = handler.handled.withLock { $0.count }
                    if now == answered, now > 0 { break }
                    answered = now
                }
                #expect(answered > 0)
                #expect(answered < count / 2, "\(answered) of \(count) answered while the server read nothing")
                try await server.setReading(true)
                var replies = Set<String>()
                while replies.count < count {
                    let reply = try await server.inbox.next { $0.stanzaID?.hasPrefix("f") == true }
                    #expect(reply.stanzaType == "result")
                    #expect(replies.insert(reply.stanzaID ?? "").inserted, "answered once")
                }
            }
            #expect(handler.handled.withLock { $0.count } == count)
            await server.stop()
        }
    }

    @Test func theConcurrencyLimitAndTheDrainApplyToTheFastPath() async throws {
        try await withOwnEventLoop { group in
            let server = try await FakeComponentServer.start(secret: "s3cret", group: group)
            let service = service(FastHandler(.never), port: server.port, group: group, maximumConcurrentRequests: 2, drainTimeout: .milliseconds(300))
            try await testGracefulShutdown { trigger in
                try await withThrowingTaskGroup(of: Void.self) { tasks in
                    tasks.addTask { await service.run() }
                    #expect(await eventually { service.status.isConnected })
                    try await server.sendRaw(fast(1) + fast(2) + fast(3))
                    let refused = try await server.inbox.next { $0.stanzaID == "f3" }
                    #expect(StanzaError(stanza: refused)?.condition == "resource-constraint")
                    trigger.triggerGracefulShutdown()
                    for id in ["f1", "f2"] {
                        let reply = try await server.inbox.next { $0.stanzaID == id }
                        #expect(StanzaError(stanza: reply)?.type == .wait, "unanswered at the drain deadline: wait")
                    }
                    _ = try await server.inbox.next("closing tag") { $0.name == "stream-end" }
                    tasks.cancelAll()
                }
            }
            await server.stop()
        }
    }

    @Test func withAReadIntervalStanzasSentOneByOneAreReadTogetherAndALoneOneAtOnce() async throws {
        try await withOwnEventLoop { group in
            let server = try await FakeComponentServer.start(secret: "s3cret", group: group)
            let handler = FastHandler(.result)
            // Long beside what a loaded machine takes to answer one stanza, so the bounds below hold under
            // the whole suite in parallel.
            let interval = Duration.seconds(1)
            let service = service(handler, port: server.port, group: group, readInterval: interval)
            try await whileRunning({ await service.run() }) {
                #expect(await eventually { service.status.isConnected })
                let clock = ContinuousClock()
                // The last read before the quiet spell may have been held up to an interval past the
                // handshake: a spell of two intervals is quiet whatever it was.
                try await clock.sleep(for: interval * 2 + .milliseconds(100))
                let lone = clock.now
                try await server.sendRaw(fast(0))
                _ = try await server.inbox.next { $0.stanzaID == "f0" }
                #expect(clock.now - lone < .milliseconds(800), "after a quiet spell a stanza waits for nothing")

                // Each in a write of its own. The read after the lone stanza's takes what has come of the
                // first half; what comes after it is held until an interval after that read, then read
                // together. Read one per interval, they would take 100 s.
                for number in 1...50 { try await server.sendRaw(fast(number)) }
                try await clock.sleep(for: .milliseconds(50))
                for number in 51...100 { try await server.sendRaw(fast(number)) }
                for number in 1...100 { _ = try await server.inbox.next { $0.stanzaID == "f\(number)" } }
                let took = clock.now - lone
                #expect(took >= interval, "held until an interval after the read that followed the lone stanza's")
                #expect(took < interval * 4, "read together, in an interval or two")
                #expect(handler.handled.withLock { $0.map(\.number) } == Array(0...100), "each handled once, in order")
            }
            await server.stop()
        }
    }

    @Test func megabytesThroughAPacedConnectionAreAllAnsweredOnce() async throws {
        try await withOwnEventLoop { group in
            let server = try await FakeComponentServer.start(secret: "s3cret", group: group)
            let handler = FastHandler(.result)
            // The longest interval the configuration allows: the fewest reads per second.
            let service = service(handler, port: server.port, group: group, readInterval: .milliseconds(5))
            let count = 20_000
            try await whileRunning({ await service.run() }) {
                #expect(await eventually { service.status.isConnected })
                let clock = ContinuousClock()
                let start = clock.now
                // About 2 MB in 100 writes, then one stanza of 400 KB, which takes several reads.
                for batch in 0..<100 {
                    try await server.sendRaw((batch * 200..<(batch + 1) * 200).map { fast($0) }.joined())
                }
                let pad = String(repeating: "p", count: 400_000)
                try await server.sendRaw("<iq type='set' id='large' from='example.org' to='push.example.com'><fast xmlns='urn:test:fast' n='\(count)' pad='\(pad)'/></iq>")
                var replies = Set<String>()
                while replies.count < count + 1 {
                    let reply = try await server.inbox.next { $0.stanzaID != nil }
                    #expect(reply.stanzaType == "result")
                    #expect(replies.insert(reply.stanzaID ?? "").inserted, "answered once")
                }
                #expect(replies.contains("large"))
                #expect(clock.now - start < .seconds(20), "paced reads still take megabytes a second")
            }
            let handled = handler.handled.withLock { $0.map(\.number) }
            #expect(handled.count == count + 1)
            #expect(Set(handled) == Set(0...count), "nothing lost")
            await server.stop()
        }
    }

    @Test(arguments: [
        StreamElement("iq", namespace: Stanza.componentNamespace, ["type": "set", "id": "x'<&\"", "from": "u@example.org/r&r", "to": "push.example.com"]),
        StreamElement("iq", namespace: Stanza.componentNamespace, ["type": "set", "to": "push.example.com"]),
        StreamElement("iq", namespace: Stanza.componentNamespace, ["type": "set", "id": "only-id"]),
        // Past the buffer's first size, escaped and not.
        StreamElement(
            "iq", namespace: Stanza.componentNamespace,
            ["type": "set", "id": String(repeating: "&'", count: 1000), "from": String(repeating: "u", count: 3000) + "@example.org"]
        ),
    ])
    func aResultIsWrittenAsTheSerializerWritesIt(request: StreamElement) {
        var written = ByteBuffer()
        IQAnswer.result.write(replyTo: request, into: &written)
        #expect(String(buffer: written) == XMLSerializer.serialize(request.iqResult(), inheritedNamespace: Stanza.componentNamespace))
        var error = ByteBuffer()
        IQAnswer.error(.itemNotFound).write(replyTo: request, into: &error)
        #expect(String(buffer: error) == XMLSerializer.serialize(request.errorReply(.itemNotFound), inheritedNamespace: Stanza.componentNamespace))
    }

    @Test func repliesAppendToWhatTheBufferHolds() {
        let first = StreamElement("iq", namespace: Stanza.componentNamespace, ["type": "set", "id": "1", "from": "a@example.org", "to": "push.example.com"])
        let second = StreamElement("iq", namespace: Stanza.componentNamespace, ["type": "set", "id": "2", "from": "b@example.org", "to": "push.example.com"])
        var buffer = ByteBuffer(string: "<already/>")
        IQAnswer.result.write(replyTo: first, into: &buffer)
        IQAnswer.error(.itemNotFound).write(replyTo: second, into: &buffer)
        let expected = "<already/>"
            + XMLSerializer.serialize(first.iqResult(), inheritedNamespace: Stanza.componentNamespace)
            + XMLSerializer.serialize(second.errorReply(.itemNotFound), inheritedNamespace: Stanza.componentNamespace)
        #expect(String(buffer: buffer) == expected)
    }
}

/// The fast path's replies: gathered into one buffer per tick and written once.
@Suite struct ReplyWriterTests {
    /// Stands in the pipeline so that the writer has a context to write through.
    private final class Placeholder: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
    }

    private func attachedWriter(to channel: EmbeddedChannel, loop: EmbeddedEventLoop) throws -> ReplyWriter {
        let placeholder = Placeholder()
        try channel.pipeline.syncOperations.addHandler(placeholder)
        let context = try channel.pipeline.syncOperations.context(handler: placeholder)
        let writer = ReplyWriter()
        writer.attach(NIOLoopBound(context, eventLoop: loop), eventLoop: loop)
        return writer
    }

    private func request(_ id: Int) -> StreamElement {
        StreamElement("iq", namespace: Stanza.componentNamespace, ["type": "set", "id": "r\(id)", "from": "u@example.org", "to": "push.example.com"])
    }

    @Test func repliesAnsweredInOneTickLeaveInOneWriteInOrder() throws {
        let loop = EmbeddedEventLoop()
        let channel = EmbeddedChannel(loop: loop)
        let writer = try attachedWriter(to: channel, loop: loop)
        for id in 0..<100 { writer.write(id % 10 == 0 ? .error(.itemNotFound) : .result, to: request(id)) }
        #expect(try channel.readOutbound(as: ByteBuffer.self) == nil, "written by the tick's one task")
        loop.run()
        let written = try #require(try channel.readOutbound(as: ByteBuffer.self))
        let expected = (0..<100).map { id in
            XMLSerializer.serialize(id % 10 == 0 ? request(id).errorReply(.itemNotFound) : request(id).iqResult(), inheritedNamespace: Stanza.componentNamespace)
        }.joined()
        #expect(String(buffer: written) == expected)
        #expect(try channel.readOutbound(as: ByteBuffer.self) == nil, "one write for the hundred")
        _ = try channel.finish()
    }

    @Test func theBufferIsReusedOnceWrittenAndNeverWrittenOverWhileHeld() throws {
        let loop = EmbeddedEventLoop()
        let channel = EmbeddedChannel(loop: loop)
        let writer = try attachedWriter(to: channel, loop: loop)
        var addresses: Set<UInt> = []
        for round in 0..<20 {
            for id in 0..<5 { writer.write(.result, to: request(round * 5 + id)) }
            loop.run()
            let written = try #require(try channel.readOutbound(as: ByteBuffer.self))
            #expect(String(buffer: written).hasPrefix("<iq type='result' id='r\(round * 5)'"))
            addresses.insert(written.withUnsafeReadableBytes { UInt(bitPattern: $0.baseAddress) })
        }
        #expect(addresses.count == 1, "one allocation for twenty ticks")

        writer.write(.result, to: request(1000))
        loop.run()
        let held = try #require(try channel.readOutbound(as: ByteBuffer.self))
        writer.write(.result, to: request(2000))
        loop.run()
        #expect(String(buffer: held).contains("r1000"), "the held reply is intact")
        #expect(String(buffer: try #require(try channel.readOutbound(as: ByteBuffer.self))).contains("r2000"))
        _ = try channel.finish()
    }

    @Test func aBufferGrownByABurstIsNotKeptForTheNextTick() throws {
        let loop = EmbeddedEventLoop()
        let channel = EmbeddedChannel(loop: loop)
        let writer = try attachedWriter(to: channel, loop: loop)
        // Each reply is about 90 bytes: 4,000 of them pass the 256 KiB the writer keeps.
        for id in 0..<4_000 { writer.write(.result, to: request(id)) }
        loop.run()
        let burst = try #require(try channel.readOutbound(as: ByteBuffer.self))
        #expect(burst.readableBytes > ReplyWriter.largestKept)
        writer.write(.result, to: request(5_000))
        loop.run()
        let next = try #require(try channel.readOutbound(as: ByteBuffer.self))
        #expect(String(buffer: next).contains("r5000"))
        #expect(next.capacity <= ReplyWriter.largestKept, "a fresh buffer, not the burst's")
        _ = try channel.finish()
    }

    @Test func aDetachedWriterWritesNothing() throws {
        let loop = EmbeddedEventLoop()
        let channel = EmbeddedChannel(loop: loop)
        let writer = try attachedWriter(to: channel, loop: loop)
        writer.write(.result, to: request(1))
        writer.detach()
        writer.write(.result, to: request(2))
        loop.run()
        #expect(try channel.readOutbound(as: ByteBuffer.self) == nil)
        _ = try channel.finish()
    }
}
