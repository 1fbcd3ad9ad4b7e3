import NIOCore
import XMLStream

/// The inbound end of a test peer's pipeline: parses bytes into stream events and hands them to a
/// callback. The parser can be replaced for an XMPP stream restart (after SASL).
final class StreamPeerHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    private var parser = XMLStreamParser()
    private let onEvent: (XMLStreamEvent) -> Void
    private let onError: (XMLStreamError) -> Void
    private let onClose: () -> Void
    private let onBytes: (ByteBuffer) -> Void

    init(
        onEvent: @escaping (XMLStreamEvent) -> Void,
        onError: @escaping (XMLStreamError) -> Void = { _ in },
        onClose: @escaping () -> Void = {},
        onBytes: @escaping (ByteBuffer) -> Void = { _ in }
    ) {
        self.onEvent = onEvent
        self.onError = onError
        self.onClose = onClose
        self.onBytes = onBytes
    }

    func resetParser() {
        parser = XMLStreamParser()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = unwrapInboundIn(data)
        onBytes(buffer)
        do {
            let events = try buffer.withUnsafeReadableBytes { bytes in try parser.feed(bytes) }
            events.forEach(onEvent)
        } catch let error as XMLStreamError {
            onError(error)
        } catch {}
    }

    func channelInactive(context: ChannelHandlerContext) {
        onClose()
        context.fireChannelInactive()
    }
}
