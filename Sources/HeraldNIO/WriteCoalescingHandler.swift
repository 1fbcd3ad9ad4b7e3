import NIOCore

/// Gathers the buffers written between two flushes into one write.
///
/// Placed above the TLS handler: NIO SSL seals every buffer written to it as a record of its own, with
/// its own `SSL_write`, header, tag and write buffer, and NIO HTTP/2 writes three buffers for each request
/// (the HEADERS frame, a DATA frame's header and its payload). Copying a request's few hundred bytes into
/// one buffer costs less than two more records; everything written in a tick then leaves as one write,
/// cut into records of the protocol's largest size by TLS itself.
///
/// A buffer larger than `largestCopied` is passed on as it is, after what was gathered before it; what
/// is gathered goes on once it reaches `largestGathered`, so the copy never holds more than that.
public final class WriteCoalescingHandler: ChannelOutboundHandler, RemovableChannelHandler {
    public typealias OutboundIn = IOData
    public typealias OutboundOut = IOData

    private let largestCopied: Int
    private let largestGathered: Int
    /// Kept between flushes: once the layer below has written it out, it is reused without allocating.
    private var gathered: ByteBuffer?
    private var gatheredPromises: [EventLoopPromise<Void>] = []

    public init(largestCopied: Int = 16_384, largestGathered: Int = 65_536) {
        self.largestCopied = largestCopied
        self.largestGathered = max(largestGathered, largestCopied)
    }

    public func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        guard case .byteBuffer(var buffer) = unwrapOutboundIn(data), buffer.readableBytes <= largestCopied else {
            passOnGathered(context: context)
            return context.write(data, promise: promise)
        }
        if gathered == nil {
            gathered = context.channel.allocator.buffer(capacity: max(buffer.readableBytes, 1024))
        } else if gathered!.readableBytes == 0 {
            // Passed on before: by now the layer below has usually let go, and this allocates nothing.
            gathered!.clear()
        }
        gathered!.writeBuffer(&buffer)
        if let promise { gatheredPromises.append(promise) }
        if gathered!.readableBytes >= largestGathered { passOnGathered(context: context) }
    }

    public func flush(context: ChannelHandlerContext) {
        passOnGathered(context: context)
        context.flush()
    }

    public func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        passOnGathered(context: context)
        context.close(mode: mode, promise: promise)
    }

    public func handlerRemoved(context: ChannelHandlerContext) {
        passOnGathered(context: context)
    }

    /// Writes what was gathered, in the order it came, with one promise that completes every writer's.
    private func passOnGathered(context: ChannelHandlerContext) {
        guard let buffer = gathered, buffer.readableBytes > 0 else { return }
        let promise: EventLoopPromise<Void>?
        switch gatheredPromises.count {
        case 0:
            promise = nil
        case 1:
            promise = gatheredPromises[0]
            gatheredPromises.removeAll(keepingCapacity: true)
        default:
            // One callback for the lot, where a cascade per promise would add a callback each.
            let combined = context.eventLoop.makePromise(of: Void.self)
            let waiting = gatheredPromises
            combined.futureResult.whenComplete { result in
                for promise in waiting { promise.completeWith(result) }
            }
            promise = combined
            // Handed to the callback; the next flush's gather in an array of their own.
            gatheredPromises = []
        }
        context.write(wrapOutboundOut(.byteBuffer(buffer)), promise: promise)
        // Marked as passed on without touching the bytes the layer below now shares; the next write
        // clears it, after the flush in which NIO SSL encrypts the bytes and lets go of them.
        gathered!.moveReaderIndex(forwardBy: buffer.readableBytes)
    }
}
