import NIOCore

/// Reads the connection at most once per `interval`, so that what arrives meanwhile is read, handled
/// and answered together.
///
/// An XMPP server sends each publish as it happens. At a steady few thousand a second, each one read
/// alone pays for its own wake-up, socket read, vendor write and reply write: about twice the CPU
/// per publish of the same rate arriving a few at a time (herald-bench path, "spaced"). Holding
/// the next read until `interval` after the last one trades at most that much latency for those
/// costs. A read after a quiet spell is not held, so a lone stanza waits for nothing.
///
/// The handler goes in a pipeline whose channel reads automatically: it delays the `read` that the
/// channel issues after each read, and nothing else.
public final class ReadPacingHandler: ChannelOutboundHandler, RemovableChannelHandler {
    public typealias OutboundIn = NIOAny
    public typealias OutboundOut = NIOAny

    private let interval: TimeAmount
    /// When the last read was passed on. Counted from there rather than from when data came, the reads
    /// keep to the interval exactly: a sender that writes about as often (a server's timer) then finds
    /// a read already waiting, instead of one that slips later each round until it waits a whole interval.
    private var lastReadAt: NIODeadline?
    private var heldRead: Scheduled<Void>?

    public init(interval: TimeAmount) {
        self.interval = interval
    }

    public func read(context: ChannelHandlerContext) {
        guard heldRead == nil else { return }
        let now = context.eventLoop.now
        guard let lastReadAt, case let due = lastReadAt + interval, due > now else {
            lastReadAt = now
            return context.read()
        }
        heldRead = context.eventLoop.assumeIsolated().scheduleTask(deadline: due) {
            self.heldRead = nil
            self.lastReadAt = due
            context.read()
        }
    }

    public func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        // Closing only the output still reads what the peer sends.
        if mode != .output { cancelHeldRead() }
        context.close(mode: mode, promise: promise)
    }

    public func handlerRemoved(context: ChannelHandlerContext) {
        // A read held when the handler goes is issued now, or the channel would stop reading.
        if heldRead != nil {
            cancelHeldRead()
            context.read()
        }
    }

    private func cancelHeldRead() {
        heldRead?.cancel()
        heldRead = nil
    }
}
