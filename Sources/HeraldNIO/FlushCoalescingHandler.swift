import NIOCore

/// Turns the flushes of everything written in one event-loop tick into one flush.
///
/// Every vendor request flushes its stream and every XMPP reply its stanza; under load that meant a
/// TLS record or a write system call for each. Deferring the flush to the end of the tick sends
/// everything written meanwhile in one go, at the cost of one task hop for a lone write.
public final class FlushCoalescingHandler: ChannelOutboundHandler, RemovableChannelHandler {
    public typealias OutboundIn = Any

    private var flushPending = false

    public init() {}

    public func flush(context: ChannelHandlerContext) {
        guard !flushPending else { return }
        flushPending = true
        context.eventLoop.assumeIsolated().execute {
            guard self.flushPending else { return }
            self.flushPending = false
            context.flush()
        }
    }

    /// What was written before a close goes out before it (a stream error, a closing tag): the close
    /// would otherwise drop it unflushed.
    public func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        if flushPending {
            flushPending = false
            context.flush()
        }
        context.close(mode: mode, promise: promise)
    }
}
