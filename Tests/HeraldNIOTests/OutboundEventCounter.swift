import NIOCore

/// Counts the flushes and reads that pass it on their way to the socket.
final class OutboundEventCounter: ChannelOutboundHandler {
    typealias OutboundIn = Any
    private(set) var flushes = 0
    private(set) var reads = 0

    func flush(context: ChannelHandlerContext) {
        flushes += 1
        context.flush()
    }

    func read(context: ChannelHandlerContext) {
        reads += 1
        context.read()
    }
}
