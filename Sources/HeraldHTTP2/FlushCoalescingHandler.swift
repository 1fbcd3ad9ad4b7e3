import NIOCore

/// Turns the flushes of the many streams written in one event-loop tick into one flush through TLS.
///
/// Every request flushes its stream, and each stream flush reaches the connection; under load that
/// meant a TLS record and a write system call per request. Deferring the flush to the end of the tick
/// sends everything written meanwhile in one go, at the cost of one task hop for a lone request.
final class FlushCoalescingHandler: ChannelOutboundHandler, RemovableChannelHandler {
    typealias OutboundIn = Any

    private var flushPending = false

    func flush(context: ChannelHandlerContext) {
        guard !flushPending else { return }
        flushPending = true
        context.eventLoop.assumeIsolated().execute {
            self.flushPending = false
            context.flush()
        }
    }
}
