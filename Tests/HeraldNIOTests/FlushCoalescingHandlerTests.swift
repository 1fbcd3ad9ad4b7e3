import HeraldNIO
import NIOCore
import NIOEmbedded
import Testing

/// Flushes within one event-loop tick reach the socket once, at the end of the tick.
@Suite struct FlushCoalescingHandlerTests {
    @Test func flushesInOneTickBecomeOneAndNothingIsHeldPastIt() throws {
        let loop = EmbeddedEventLoop()
        let counter = OutboundEventCounter()
        let channel = EmbeddedChannel(handlers: [counter, FlushCoalescingHandler()], loop: loop)
        for index in 0..<100 {
            channel.write(ByteBuffer(string: "stanza \(index)"), promise: nil)
            channel.flush()
        }
        #expect(counter.flushes == 0, "held to the end of the tick")
        #expect(try channel.readOutbound(as: ByteBuffer.self) == nil)
        loop.run()
        #expect(counter.flushes == 1)
        var written = 0
        while try channel.readOutbound(as: ByteBuffer.self) != nil { written += 1 }
        #expect(written == 100, "every write goes out with the one flush")

        channel.write(ByteBuffer(string: "later"), promise: nil)
        channel.flush()
        loop.run()
        #expect(counter.flushes == 2, "a flush in the next tick is its own")
        #expect(try channel.readOutbound(as: ByteBuffer.self) == ByteBuffer(string: "later"))
        _ = try channel.finish()
    }
}

extension FlushCoalescingHandlerTests {
    @Test func whatWasWrittenBeforeACloseGoesOutBeforeIt() throws {
        let loop = EmbeddedEventLoop()
        let counter = OutboundEventCounter()
        let channel = EmbeddedChannel(handlers: [counter, FlushCoalescingHandler()], loop: loop)
        channel.write(ByteBuffer(string: "<stream:error/>"), promise: nil)
        channel.flush()
        let closed = channel.close()
        #expect(counter.flushes == 1, "flushed by the close, not left for the end of the tick")
        #expect(try channel.readOutbound(as: ByteBuffer.self) == ByteBuffer(string: "<stream:error/>"))
        loop.run()
        try closed.wait()
        #expect(counter.flushes == 1, "and not again")
    }
}
