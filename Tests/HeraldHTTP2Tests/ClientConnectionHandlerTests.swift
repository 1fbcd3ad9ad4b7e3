@testable import HeraldHTTP2
import NIOCore
import NIOEmbedded
import NIOHPACK
import NIOHTTP2
import Synchronization
import Testing

/// The handler between NIO's HTTP/2 codec and the state machine, on an `EmbeddedChannel` whose clock
/// moves by hand: frames in, frames out, timers without waiting.
@Suite struct ClientConnectionHandlerTests {
    final class Fixture {
        let channel: EmbeddedChannel
        let loop: EmbeddedEventLoop
        let handler: ClientConnectionHandler
        var ready = false
        var retired: [HTTP2RetireReason] = []
        var pingTimeouts = 0

        init(liveness: ClientConnectionHandler.Liveness = .init(idlePingInterval: .seconds(60), pingTimeout: .seconds(5))) throws {
            loop = EmbeddedEventLoop()
            channel = EmbeddedChannel(loop: loop)
            var box: Fixture?
            handler = ClientConnectionHandler(
                configuration: .init(),
                liveness: liveness,
                authority: "vendor.example",
                onReady: { _ in box?.ready = true },
                onRetire: { box?.retired.append($0) },
                onPingTimeout: { box?.pingTimeouts += 1 }
            )
            box = self
            try channel.pipeline.syncOperations.addHandler(handler)
            try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 443)).wait()
        }

        func outbound() throws -> [HTTP2Frame] {
            var frames: [HTTP2Frame] = []
            while let frame = try channel.readOutbound(as: HTTP2Frame.self) { frames.append(frame) }
            return frames
        }

        func serverSettings() throws {
            try channel.writeInbound(HTTP2Frame(streamID: .rootStream, payload: .settings(.settings([HTTP2Setting(parameter: .maxConcurrentStreams, value: 100)]))))
        }

        func start(_ path: String, body: String? = nil, timeout: TimeAmount = .seconds(10)) -> EventLoopFuture<HTTP2Response> {
            let promise = loop.makePromise(of: HTTP2Response.self)
            handler.start(HTTP2Request(path: path, headers: [("x-test", "1")], body: body.map { ByteBuffer(string: $0) }), deadline: loop.now + timeout, completion: promise.completeWith)
            return promise.futureResult
        }
    }

    @Test func theConnectionWindowIsWidenedWhenTheChannelBecomesActive() throws {
        let fixture = try Fixture()
        let frames = try fixture.outbound()
        guard case .windowUpdate(let increment) = frames.first?.payload else {
            Issue.record("expected a WINDOW_UPDATE, got \(frames)")
            return
        }
        #expect(frames.first?.streamID == .rootStream)
        #expect(increment > 1_000_000)
    }

    @Test func aRequestGoesOutOnceReadyAndItsAnswerCompletesIt() throws {
        let fixture = try Fixture()
        _ = try fixture.outbound()
        let response = fixture.start("/3/device/abc", body: "{}")
        #expect(try fixture.outbound().isEmpty, "waits for the server's SETTINGS")
        try fixture.serverSettings()
        #expect(fixture.ready)
        let frames = try fixture.outbound()
        guard frames.count == 2, case .headers(let headers) = frames[0].payload, case .data(let data) = frames[1].payload else {
            Issue.record("expected HEADERS and DATA, got \(frames)")
            return
        }
        #expect(frames[0].streamID == 1)
        #expect(headers.headers.first(name: ":path") == "/3/device/abc")
        #expect(headers.headers.first(name: ":authority") == "vendor.example")
        #expect(headers.headers.first(name: "x-test") == "1")
        #expect(!headers.endStream && data.endStream)

        try fixture.channel.writeInbound(HTTP2Frame(streamID: 1, payload: .headers(.init(headers: HPACKHeaders([(":status", "410")])))))
        try fixture.channel.writeInbound(HTTP2Frame(streamID: 1, payload: .data(.init(data: .byteBuffer(ByteBuffer(string: #"{"reason":"Unregistered"}"#)), endStream: true))))
        let answer = try response.wait()
        #expect(answer.status == 410)
        #expect(String(buffer: answer.body) == #"{"reason":"Unregistered"}"#)
    }

    /// Constant headers are offered to HPACK's dynamic table; per-request ones (and a path naming a
    /// device) are not, so that they do not push the constant ones out of it.
    @Test func headersThatChangeEveryRequestAreNotIndexed() throws {
        let fixture = try Fixture()
        _ = try fixture.outbound()
        try fixture.serverSettings()
        let promise = fixture.loop.makePromise(of: HTTP2Response.self)
        let request = HTTP2Request(
            path: "/3/device/abc", headers: [("apns-topic", "org.example")], unindexedHeaders: [("apns-id", "1234")], indexesPath: false
        )
        fixture.handler.start(request, deadline: fixture.loop.now + .seconds(10), completion: promise.completeWith)
        guard case .headers(let payload) = try fixture.outbound().first?.payload else {
            Issue.record("expected HEADERS")
            return
        }
        let indexing = Dictionary(uniqueKeysWithValues: payload.headers.map { ($0.name, $0.indexable) })
        #expect(indexing[":authority"] == .indexable)
        #expect(indexing["apns-topic"] == .indexable)
        #expect(indexing[":path"] == .nonIndexable)
        #expect(indexing["apns-id"] == .nonIndexable)
        promise.fail(RequestNotProcessed())
    }

    /// One timer serves every request's deadline: a later request with a shorter timeout times out first,
    /// an answered one never does, and the rest keep theirs.
    @Test func eachRequestEndsByItsOwnDeadlineUnderOneTimer() throws {
        let fixture = try Fixture(liveness: .init(idlePingInterval: .seconds(3600), pingTimeout: .seconds(3600)))
        try fixture.serverSettings()
        _ = try fixture.outbound()
        let long = fixture.start("/long", timeout: .seconds(10))
        let answered = fixture.start("/answered", timeout: .seconds(1))
        let short = fixture.start("/short", timeout: .seconds(2))
        _ = try fixture.outbound()
        final class Recorded: Sendable { let value = Mutex("pending") }
        let outcome = { (future: EventLoopFuture<HTTP2Response>) -> String in
            let recorded = Recorded()
            future.whenComplete { result in recorded.value.withLock { $0 = (try? result.get()).map { "answered \($0.status)" } ?? "failed" } }
            fixture.loop.run()
            return recorded.value.withLock { $0 }
        }
        // Stream 3 is "/answered".
        try fixture.channel.writeInbound(HTTP2Frame(streamID: 3, payload: .headers(.init(headers: HPACKHeaders([(":status", "200")]), endStream: true))))
        #expect(outcome(answered) == "answered 200")
        fixture.loop.advanceTime(by: .milliseconds(1500))
        #expect(outcome(short) == "pending" && outcome(long) == "pending", "the answered request's deadline passed, and it ended nothing")
        fixture.loop.advanceTime(by: .seconds(1))
        #expect(outcome(short) == "failed", "the shorter timeout, though started later")
        #expect(outcome(long) == "pending")
        fixture.loop.advanceTime(by: .seconds(8))
        #expect(outcome(long) == "failed")
    }

    @Test func nioWindowEventsBecomeWindowUpdates() throws {
        let fixture = try Fixture()
        try fixture.serverSettings()
        _ = try fixture.outbound()
        fixture.channel.pipeline.fireUserInboundEventTriggered(NIOHTTP2WindowUpdatedEvent(streamID: .rootStream, inboundWindowSize: 1_000, outboundWindowSize: 65_535))
        let frames = try fixture.outbound()
        guard case .windowUpdate(let increment) = frames.first?.payload else {
            Issue.record("expected a WINDOW_UPDATE, got \(frames)")
            return
        }
        #expect(increment == 8 * 1024 * 1024 - 1_000)
    }

    @Test func aTimeoutResetsThePingsAndAnUnansweredPingClosesTheConnection() throws {
        let fixture = try Fixture(liveness: .init(idlePingInterval: .seconds(600), pingTimeout: .seconds(2)))
        try fixture.serverSettings()
        let response = fixture.start("/slow", timeout: .seconds(10))
        _ = try fixture.outbound()
        fixture.loop.advanceTime(by: .seconds(10))
        #expect(throws: HTTP2ClientError.timedOut) { try response.wait() }
        let frames = try fixture.outbound()
        #expect(frames.contains { if case .rstStream(.cancel) = $0.payload { $0.streamID == 1 } else { false } })
        #expect(frames.contains { if case .ping(_, ack: false) = $0.payload { true } else { false } })
        #expect(fixture.channel.isActive)
        fixture.loop.advanceTime(by: .seconds(2))
        #expect(fixture.retired == [.pingTimeout])
        #expect(fixture.pingTimeouts == 1)
        #expect(!fixture.channel.isActive, "closed")
    }

    @Test func anIdleConnectionIsPingedAndKeptWhenThePeerAnswers() throws {
        let fixture = try Fixture(liveness: .init(idlePingInterval: .seconds(30), pingTimeout: .seconds(5)))
        try fixture.serverSettings()
        _ = try fixture.outbound()
        fixture.loop.advanceTime(by: .seconds(30))  // the SETTINGS were heard in this period
        #expect(try fixture.outbound().isEmpty)
        fixture.loop.advanceTime(by: .seconds(30))
        let ping = try fixture.outbound().compactMap { if case .ping(let data, ack: false) = $0.payload { data } else { nil } }
        #expect(ping.count == 1)
        try fixture.channel.writeInbound(HTTP2Frame(streamID: .rootStream, payload: .ping(ping[0], ack: true)))
        fixture.loop.advanceTime(by: .seconds(5))
        #expect(fixture.retired.isEmpty)
        #expect(fixture.channel.isActive)
        _ = try? fixture.channel.finish()
    }
}
