import NIOCore
import Synchronization
import XMLStream

/// The component's fast path, in the pipeline between the stream decoder and the async session: a
/// stanza whose payload a reader read is answered from here, without a task and without the session's
/// async stream; everything else goes on to the session.
///
/// Only once the stream is established: before that, and while closing, read stanzas also go on, so
/// the session's state machine judges them in order with the rest.
///
/// Where: a read that brought a few such stanzas answers them on this connection's event loop, with no
/// hop at all (an ordinary load). One that brought many (a backlog) keeps a share here and hands the
/// rest, in one task per loop, to the group's other event loops, whose vendor connections then carry
/// their pushes: this loop also parses every stanza and writes every reply, so it keeps less.
final class ReadStanzaHandler: ChannelInboundHandler {
    typealias InboundIn = XMLStreamEvent
    typealias InboundOut = XMLStreamEvent

    private let session: ComponentSession
    /// The group's other event loops. Of a backlog, this loop answers one stanza for every two it hands
    /// to each of them (its own share of the work, parsing and writing replies, is about a third).
    private var elsewhere: [any EventLoop] = []
    private let groupLoops: [any EventLoop]
    private var batch: [ReadStanza] = []
    private var nextElsewhere = 0
    /// A read that brought more than this many stanzas to answer spreads them.
    static let spreadAbove = 8

    init(session: ComponentSession, eventLoops: [any EventLoop]) {
        self.session = session
        self.groupLoops = eventLoops
    }

    func handlerAdded(context: ChannelHandlerContext) {
        session.replies.attach(NIOLoopBound(context, eventLoop: context.eventLoop), eventLoop: context.eventLoop)
        elsewhere = groupLoops.filter { $0 !== context.eventLoop }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        session.replies.detach()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let event = unwrapInboundIn(data)
        if case .read(let read) = event, session.isEstablished {
            batch.append(read)
        } else {
            answerBatch()
            context.fireChannelRead(data)
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        answerBatch()
        context.fireChannelReadComplete()
    }

    func channelInactive(context: ChannelHandlerContext) {
        answerBatch()
        context.fireChannelInactive()
    }

    private func answerBatch() {
        guard !batch.isEmpty else { return }
        defer { batch.removeAll(keepingCapacity: true) }
        guard batch.count > Self.spreadAbove, !elsewhere.isEmpty else {
            for read in batch { session.answer(read) }
            return
        }
        var handedOff = Array(repeating: [ReadStanza](), count: elsewhere.count)
        var here: [ReadStanza] = []
        for read in batch {
            let slot = nextElsewhere % (2 * elsewhere.count + 1)
            nextElsewhere &+= 1
            if slot == 2 * elsewhere.count {
                here.append(read)
            } else {
                handedOff[slot / 2].append(read)
            }
        }
        let session = self.session
        for (index, reads) in handedOff.enumerated() where !reads.isEmpty {
            elsewhere[index].execute { for read in reads { session.answer(read) } }
        }
        for read in here { session.answer(read) }
    }
}

/// Writes the fast path's replies on their connection. Each reply is serialized straight into one buffer
/// shared by the replies answered meanwhile, on whatever thread answers, and one task on the connection's
/// loop writes them all: one write and one hop per tick, where each reply was a buffer (two allocations)
/// and a pipeline write of its own. The buffer is reused once the socket has taken its bytes.
final class ReplyWriter: Sendable {
    private let context = Mutex<(bound: NIOLoopBound<ChannelHandlerContext>, eventLoop: any EventLoop)?>(nil)
    private let pending = Mutex<(buffer: ByteBuffer, scheduled: Bool)>((ByteBuffer(), false))
    /// A buffer grown past this by a burst is let go rather than kept for the next tick.
    static let largestKept = 256 * 1024

    func attach(_ context: NIOLoopBound<ChannelHandlerContext>, eventLoop: any EventLoop) {
        self.context.withLock { $0 = (context, eventLoop) }
    }

    /// The connection is gone: later replies have nowhere to go.
    func detach() {
        context.withLock { $0 = nil }
    }

    func write(_ answer: IQAnswer, to request: StreamElement) {
        guard let (bound, eventLoop) = context.withLock({ $0 }) else { return }
        let schedule = pending.withLock { state in
            if state.buffer.readableBytes == 0 {
                // Written out before: cleared in place, which allocates only if the socket still holds it.
                if state.buffer.capacity > Self.largestKept { state.buffer = ByteBuffer() } else { state.buffer.clear() }
            }
            answer.write(replyTo: request, into: &state.buffer)
            defer { state.scheduled = true }
            return !state.scheduled
        }
        if schedule {
            eventLoop.execute { self.writePending(bound) }
        }
    }

    private func writePending(_ bound: NIOLoopBound<ChannelHandlerContext>) {
        let buffer = pending.withLock { state in
            state.scheduled = false
            let buffer = state.buffer
            // Marked as taken without touching the bytes the channel now shares.
            state.buffer.moveReaderIndex(forwardBy: buffer.readableBytes)
            return buffer
        }
        // Detached meanwhile: the context is no longer the pipeline's.
        guard buffer.readableBytes > 0, self.context.withLock({ $0 != nil }) else { return }
        let context = bound.value
        context.write(NIOAny(buffer), promise: nil)
        context.flush()
    }
}

extension IQAnswer {
    /// Appends the reply to `request` to `buffer`, serialized as `XMLSerializer` would write
    /// `request.iqResult()` or `request.errorReply(_:)` on the component stream. A bare result, the common
    /// answer, is written straight into the buffer.
    func write(replyTo request: StreamElement, into buffer: inout ByteBuffer) {
        switch self {
        case .error(let error):
            buffer.writeString(XMLSerializer.serialize(request.errorReply(error), inheritedNamespace: Stanza.componentNamespace))
        case .result:
            let id = request[attribute: "id"]
            let from = request[attribute: "to"]
            let to = request[attribute: "from"]
            // Room made once, for the common case of values written as they are.
            let valueBytes = (id?.utf8.count ?? 0) + (from?.utf8.count ?? 0) + (to?.utf8.count ?? 0)
            buffer.reserveCapacity(minimumWritableBytes: 40 + valueBytes)
            buffer.writeStaticString("<iq type='result'")
            Self.write(" id='", id, to: &buffer)
            Self.write(" from='", from, to: &buffer)
            Self.write(" to='", to, to: &buffer)
            buffer.writeStaticString("/>")
        }
    }

    private static func write(_ opening: StaticString, _ value: String?, to buffer: inout ByteBuffer) {
        guard let value else { return }
        buffer.writeStaticString(opening)
        if XMLSerializer.needsEscaping(attribute: value) {
            var escaped = ""
            XMLSerializer.escapeAttribute(value, into: &escaped)
            buffer.writeString(escaped)
        } else {
            buffer.writeString(value)
        }
        buffer.writeStaticString("'")
    }
}
