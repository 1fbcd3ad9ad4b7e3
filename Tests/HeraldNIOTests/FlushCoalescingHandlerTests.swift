import HeraldNIO
import NIOCore
import NIOEmbedded
import Testing

/// Flushes within one event-loop tick reach the socket once, at the end of the tick.
@Suite struct FlushCoalescingHandlerTests {
    @Test func flushesInOneTickBecomeOneAndNothingIsHeldPastIt() throws {
        let loop = EmbeddedEventLoop()
        let flushes = FlushCounter()
        let channel = EmbeddedChannel(handlers: [flushes, FlushCoalescingHandler()], loop: loop)
        for index in 0..<100 {
            channel.write(ByteBuffer(string: "stanza \(index)"), promise: nil)
            channel.flush()
        }
        #expect(flushes.count == 0, "held to the end of the tick")
        #expect(try channel.readOutbound(as: ByteBuffer.self) == nil)
        loop.run()
        #expect(flushes.count == 1)
        var written = 0
        while try channel.readOutbound(as: ByteBuffer.self) != nil { written += 1 }
        #expect(written == 100, "every write goes out with the one flush")

        channel.write(ByteBuffer(string: "later"), promise: nil)
        channel.flush()
        loop.run()
        #expect(flushes.count == 2, "a flush in the next tick is its own")
        #expect(try channel.readOutbound(as: ByteBuffer.self) == ByteBuffer(string: "later"))
        _ = try channel.finish()
    }
}

extension FlushCoalescingHandlerTests {
    @Test func whatWasWrittenBeforeACloseGoesOutBeforeIt() throws {
        let loop = EmbeddedEventLoop()
        let flushes = FlushCounter()
        let channel = EmbeddedChannel(handlers: [flushes, FlushCoalescingHandler()], loop: loop)
        channel.write(ByteBuffer(string: "<stream:error/>"), promise: nil)
        channel.flush()
        let closed = channel.close()
        #expect(flushes.count == 1, "flushed by the close, not left for the end of the tick")
        #expect(try channel.readOutbound(as: ByteBuffer.self) == ByteBuffer(string: "<stream:error/>"))
        loop.run()
        try closed.wait()
        #expect(flushes.count == 1, "and not again")
    }
}

/// Counts the flushes that pass it on their way to the socket.
private final class FlushCounter: ChannelOutboundHandler {
    typealias OutboundIn = Any
    private(set) var count = 0

    func flush(context: ChannelHandlerContext) {
        count += 1
        context.flush()
    }
}
