import HeraldNIO
import HeraldTesting
import NIOCore
import NIOEmbedded
import NIOPosix
import Synchronization
import Testing

/// Reads reach the socket at most once per interval while traffic lasts, and at once after a quiet spell.
@Suite struct ReadPacingHandlerTests {
    private func pacedChannel(interval: TimeAmount = .milliseconds(1)) throws -> (EmbeddedChannel, EmbeddedEventLoop, OutboundEventCounter) {
        let loop = EmbeddedEventLoop()
        let counter = OutboundEventCounter()
        // The counter sits nearer the socket, so it sees only the reads the pacing lets through.
        let channel = EmbeddedChannel(handlers: [counter, ReadPacingHandler(interval: interval)], loop: loop)
        return (channel, loop, counter)
    }

    /// What the channel does after each read when it reads automatically.
    private func readCompletes(_ channel: EmbeddedChannel) {
        channel.pipeline.fireChannelReadComplete()
        channel.read()
    }

    @Test func aReadSoonAfterTheLastIsHeldUntilTheIntervalIsUpAndIssuedOnce() throws {
        let (channel, loop, counter) = try pacedChannel()
        channel.read()
        #expect(counter.reads == 1, "the first read is not held")
        readCompletes(channel)
        channel.read()
        channel.read()
        #expect(counter.reads == 1, "held, however often it is asked for")
        loop.advanceTime(by: .microseconds(999))
        #expect(counter.reads == 1)
        loop.advanceTime(by: .microseconds(1))
        #expect(counter.reads == 2, "issued once when the interval is up")

        // Under sustained traffic each read is asked for right after the last: one per interval.
        for round in 3...100 {
            readCompletes(channel)
            loop.advanceTime(by: .microseconds(999))
            #expect(counter.reads == round - 1)
            loop.advanceTime(by: .microseconds(1))
            #expect(counter.reads == round)
        }
        loop.advanceTime(by: .milliseconds(5))
        #expect(counter.reads == 100, "and no read more")
        _ = try channel.finish()
    }

    @Test func theIntervalCountsFromTheLastReadNotFromWhenDataCame() throws {
        let (channel, loop, counter) = try pacedChannel()
        channel.read()
        readCompletes(channel)
        loop.advanceTime(by: .milliseconds(1))
        #expect(counter.reads == 2)
        // Data comes late in the interval: the next read is due an interval after the last one,
        // not an interval after the data.
        loop.advanceTime(by: .microseconds(900))
        readCompletes(channel)
        #expect(counter.reads == 2)
        loop.advanceTime(by: .microseconds(100))
        #expect(counter.reads == 3, "on the interval, not 900 µs later")
        _ = try channel.finish()
    }

    @Test func aReadAfterAQuietSpellIsNotHeld() throws {
        let (channel, loop, counter) = try pacedChannel()
        channel.read()
        loop.advanceTime(by: .milliseconds(1))
        readCompletes(channel)
        #expect(counter.reads == 2, "a full interval since the last read: at once")
        loop.advanceTime(by: .seconds(30))
        readCompletes(channel)
        #expect(counter.reads == 3)
        _ = try channel.finish()
    }

    @Test func aHeldReadIsDroppedWhenTheChannelClosesAndIssuedWhenTheHandlerGoes() throws {
        let (channel, loop, counter) = try pacedChannel()
        channel.read()
        readCompletes(channel)
        #expect(counter.reads == 1)
        let pacing = try channel.pipeline.syncOperations.handler(type: ReadPacingHandler.self)
        try channel.pipeline.syncOperations.removeHandler(pacing).wait()
        #expect(counter.reads == 2, "a removed handler must not leave the channel without a read")
        loop.advanceTime(by: .milliseconds(5))
        #expect(counter.reads == 2, "and its timer does not read again")
        _ = try channel.finish()

        let (closing, closingLoop, closingCounter) = try pacedChannel()
        closing.read()
        readCompletes(closing)
        _ = try closing.finish()
        closingLoop.advanceTime(by: .milliseconds(5))
        #expect(closingCounter.reads == 1, "no read on a channel that has closed")
    }

    /// On a real socket: a connection that closed only its output still reads what the peer sends,
    /// through a held read (EmbeddedChannel closes all of itself for any close).
    @Test(.timeLimit(.minutes(1))) func aConnectionThatClosedItsOutputStillReads() async throws {
        let group = MultiThreadedEventLoopGroup.singleton
        let peers = Mutex<[any Channel]>([])
        let server = try await ServerBootstrap(group: group)
            // The peer keeps writing after it reads the client's end of output.
            .childChannelOption(.allowRemoteHalfClosure, value: true)
            .childChannelInitializer { channel in
                peers.withLock { $0.append(channel) }
                return channel.eventLoop.makeSucceededVoidFuture()
            }
            .bind(host: "127.0.0.1", port: 0).get()
        let received = Received()
        let client = try await ClientBootstrap(group: group)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    // Long enough that the close below comes while the read after "a" is held.
                    try channel.pipeline.syncOperations.addHandler(ReadPacingHandler(interval: .seconds(2)))
                    try channel.pipeline.syncOperations.addHandler(received)
                }
            }
            .connect(host: "127.0.0.1", port: try #require(server.localAddress?.port)).get()
        #expect(await eventually(timeout: .seconds(10)) { peers.withLock { !$0.isEmpty } })
        let peer = try #require(peers.withLock { $0.first })
        try await peer.writeAndFlush(ByteBuffer(string: "a"))
        #expect(await eventually(timeout: .seconds(10)) { received.text == "a" })
        try await client.close(mode: .output)
        try await peer.writeAndFlush(ByteBuffer(string: "b"))
        #expect(await eventually(timeout: .seconds(10)) { received.text == "ab" }, "read once the interval is up")
        try await client.close()
        // Allowed a half-closed input, the peer stays open until closed.
        try await peer.close()
        try await server.close()
    }
}

/// Collects what a channel reads.
private final class Received: ChannelInboundHandler, Sendable {
    typealias InboundIn = ByteBuffer
    private let bytes = Mutex("")
    var text: String { bytes.withLock { $0 } }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = unwrapInboundIn(data)
        bytes.withLock { $0 += String(buffer: buffer) }
    }
}
