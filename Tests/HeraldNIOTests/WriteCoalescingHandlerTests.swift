import HeraldNIO
import NIOCore
import NIOEmbedded
import Testing

/// Buffers written between flushes reach the layer below as one, in order, with every writer's promise kept.
@Suite struct WriteCoalescingHandlerTests {
    @Test func writesBetweenFlushesLeaveAsOneBufferInOrder() throws {
        let counter = OutboundEventCounter()
        let channel = EmbeddedChannel(handlers: [counter, WriteCoalescingHandler()])
        for index in 0..<300 {
            channel.write(ByteBuffer(string: "frame \(index);"), promise: nil)
        }
        #expect(try channel.readOutbound(as: ByteBuffer.self) == nil, "held until the flush")
        channel.flush()
        #expect(counter.flushes == 1)
        let written = try #require(try channel.readOutbound(as: ByteBuffer.self))
        #expect(written == ByteBuffer(string: (0..<300).map { "frame \($0);" }.joined()))
        #expect(try channel.readOutbound(as: ByteBuffer.self) == nil, "one buffer, not one per write")
        _ = try channel.finish()
    }

    @Test func aLargeBufferPassesAsItIsAfterWhatCameBefore() throws {
        let channel = EmbeddedChannel(handler: WriteCoalescingHandler(largestCopied: 100, largestGathered: 1000))
        let large = ByteBuffer(repeating: UInt8(ascii: "x"), count: 101)
        channel.write(ByteBuffer(string: "a"), promise: nil)
        channel.write(ByteBuffer(string: "b"), promise: nil)
        channel.write(large, promise: nil)
        channel.write(ByteBuffer(string: "c"), promise: nil)
        channel.flush()
        #expect(try channel.readOutbound(as: ByteBuffer.self) == ByteBuffer(string: "ab"))
        #expect(try channel.readOutbound(as: ByteBuffer.self) == large)
        #expect(try channel.readOutbound(as: ByteBuffer.self) == ByteBuffer(string: "c"))
        #expect(try channel.readOutbound(as: ByteBuffer.self) == nil)
        _ = try channel.finish()
    }

    @Test func whatIsGatheredGoesOnAtItsLimitWithoutWaitingForTheFlush() throws {
        let recorder = WriteRecorder()
        let channel = EmbeddedChannel(handlers: [recorder, WriteCoalescingHandler(largestCopied: 100, largestGathered: 250)])
        let chunk = ByteBuffer(repeating: UInt8(ascii: "y"), count: 100)
        for _ in 0..<5 { channel.write(chunk, promise: nil) }
        // 300 bytes passed the limit after the third write; the other two wait for the flush.
        #expect(recorder.sizes == [300])
        channel.flush()
        #expect(recorder.sizes == [300, 200])
        _ = try channel.finish()
    }
}

extension WriteCoalescingHandlerTests {
    @Test func everyWritersPromiseCompletesWithTheWriteThatCarriedIt() throws {
        let loop = EmbeddedEventLoop()
        let failing = FailingWrites()
        let channel = EmbeddedChannel(handlers: [failing, WriteCoalescingHandler()], loop: loop)
        // Results as they arrive: a promise left unfulfilled shows as a missing entry, not a hang.
        var results: [String: Result<Void, any Error>] = [:]
        func promise(_ name: String) -> EventLoopPromise<Void> {
            let promise = loop.makePromise(of: Void.self)
            promise.futureResult.assumeIsolated().whenComplete { results[name] = $0 }
            return promise
        }
        for index in 0..<3 {
            channel.write(ByteBuffer(string: "\(index)"), promise: promise("ok \(index)"))
        }
        channel.write(ByteBuffer(string: "no promise"), promise: nil)
        channel.flush()
        loop.run()
        for index in 0..<3 {
            let result = try #require(results["ok \(index)"], "completed")
            #expect(throws: Never.self) { try result.get() }
        }

        failing.failing = true
        channel.write(ByteBuffer(string: "lone"), promise: promise("lone"))
        channel.flush()
        for index in 0..<2 { channel.write(ByteBuffer(string: "pair"), promise: promise("pair \(index)")) }
        channel.flush()
        loop.run()
        for name in ["lone", "pair 0", "pair 1"] {
            let result = try #require(results[name], "completed")
            #expect(throws: FailingWrites.Refused.self) { try result.get() }
        }
        _ = try? channel.finish()
    }

    @Test func theGatheredBufferIsReusedOnceTheLayerBelowLetsGo() throws {
        let channel = EmbeddedChannel(handler: WriteCoalescingHandler())
        var addresses: Set<UInt> = []
        for round in 0..<50 {
            for index in 0..<10 { channel.write(ByteBuffer(string: "round \(round) write \(index)"), promise: nil) }
            channel.flush()
            let written = try #require(try channel.readOutbound(as: ByteBuffer.self))
            #expect(written.readableBytes > 0)
            addresses.insert(written.withUnsafeReadableBytes { UInt(bitPattern: $0.baseAddress) })
        }
        #expect(addresses.count == 1, "one allocation for fifty flushes")
        _ = try channel.finish()
    }

    @Test func aBufferStillHeldBelowIsNeverWrittenOver() throws {
        let channel = EmbeddedChannel(handler: WriteCoalescingHandler())
        channel.write(ByteBuffer(string: "first"), promise: nil)
        channel.flush()
        // The layer below keeps the first buffer while the handler gathers the next.
        let held = try #require(try channel.readOutbound(as: ByteBuffer.self))
        channel.write(ByteBuffer(string: "second"), promise: nil)
        channel.flush()
        #expect(held == ByteBuffer(string: "first"))
        #expect(try channel.readOutbound(as: ByteBuffer.self) == ByteBuffer(string: "second"))
        _ = try channel.finish()
    }

    @Test func whatWasGatheredGoesOutBeforeAClose() throws {
        let recorder = WriteRecorder()
        let channel = EmbeddedChannel(handlers: [recorder, WriteCoalescingHandler()])
        channel.write(ByteBuffer(string: "GOAWAY"), promise: nil)
        #expect(recorder.sizes.isEmpty)
        let closed = channel.close()
        #expect(recorder.sizes == [6], "written before the close reached the socket")
        try closed.wait()
    }
}

/// Fails every write that reaches it while `failing` is set, as a socket that has gone would.
private final class FailingWrites: ChannelOutboundHandler {
    typealias OutboundIn = Any
    struct Refused: Error {}
    var failing = false

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if failing {
            promise?.fail(Refused())
        } else {
            context.write(data, promise: promise)
        }
    }
}

/// Notes the size of every write that passes it, flushed or not.
private final class WriteRecorder: ChannelOutboundHandler {
    typealias OutboundIn = ByteBuffer
    private(set) var sizes: [Int] = []

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        sizes.append(unwrapOutboundIn(data).readableBytes)
        context.write(data, promise: promise)
    }
}
