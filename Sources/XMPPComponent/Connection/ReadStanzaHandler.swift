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

/// Writes the fast path's replies on their connection: at once when answered on its event loop, or
/// gathered from other threads and written together in one task on the loop (one hop for all the
/// replies answered meanwhile, not one each). Flushes coalesce per tick downstream.
final class ReplyWriter: Sendable {
    private let context = Mutex<(bound: NIOLoopBound<ChannelHandlerContext>, eventLoop: any EventLoop)?>(nil)
    private let pending = Mutex<(buffers: [ByteBuffer], scheduled: Bool)>(([], false))

    func attach(_ context: NIOLoopBound<ChannelHandlerContext>, eventLoop: any EventLoop) {
        self.context.withLock { $0 = (context, eventLoop) }
    }

    /// The connection is gone: later replies have nowhere to go.
    func detach() {
        context.withLock { $0 = nil }
    }

    func write(_ buffer: ByteBuffer) {
        guard let (bound, eventLoop) = context.withLock({ $0 }) else { return }
        if eventLoop.inEventLoop {
            let context = bound.value
            context.write(NIOAny(buffer), promise: nil)
            context.flush()
            return
        }
        let schedule = pending.withLock { state in
            state.buffers.append(buffer)
            defer { state.scheduled = true }
            return !state.scheduled
        }
        if schedule {
            eventLoop.execute { self.writePending(bound) }
        }
    }

    private func writePending(_ bound: NIOLoopBound<ChannelHandlerContext>) {
        let buffers = pending.withLock { state in
            defer { state = ([], false) }
            return state.buffers
        }
        // Detached meanwhile: the context is no longer the pipeline's.
        guard self.context.withLock({ $0 != nil }) else { return }
        let context = bound.value
        for buffer in buffers { context.write(NIOAny(buffer), promise: nil) }
        context.flush()
    }
}

extension IQAnswer {
    /// The reply to `request`, serialized as `XMLSerializer` would write `request.iqResult()` or
    /// `request.errorReply(_:)` on the component stream. A bare result, the common answer, is written
    /// straight into the buffer.
    func reply(to request: StreamElement, allocator: ByteBufferAllocator) -> ByteBuffer {
        switch self {
        case .error(let error):
            return allocator.buffer(string: XMLSerializer.serialize(request.errorReply(error), inheritedNamespace: Stanza.componentNamespace))
        case .result:
            let id = request[attribute: "id"]
            let from = request[attribute: "to"]
            let to = request[attribute: "from"]
            // One allocation, sized for the common case of values written as they are.
            let valueBytes = (id?.utf8.count ?? 0) + (from?.utf8.count ?? 0) + (to?.utf8.count ?? 0)
            var buffer = allocator.buffer(capacity: 40 + valueBytes)
            buffer.writeStaticString("<iq type='result'")
            Self.write(" id='", id, to: &buffer)
            Self.write(" from='", from, to: &buffer)
            Self.write(" to='", to, to: &buffer)
            buffer.writeStaticString("/>")
            return buffer
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
