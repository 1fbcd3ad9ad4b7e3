import NIOCore
import XMLStream

/// Frames the inbound byte stream into stream events: the XML-stream slot in the pipeline where a
/// line-based protocol would put a newline decoder.
public struct XMLStreamDecoder: ByteToMessageDecoder {
    public typealias InboundOut = XMLStreamEvent

    private let parser: XMLStreamParser

    /// `readers` read the payloads they accept straight from parser events (`StanzaPayloadReader`).
    public init(limits: XMLStreamParser.Limits = .init(), readers: [any StanzaPayloadReader] = []) {
        parser = XMLStreamParser(limits: limits, readers: readers)
    }

    public mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard buffer.readableBytes > 0 else { return .needMoreData }
        let parser = self.parser
        let events = try buffer.withUnsafeReadableBytes { bytes in try parser.feed(bytes) }
        buffer.moveReaderIndex(to: buffer.writerIndex)
        for event in events {
            context.fireChannelRead(wrapInboundOut(event))
        }
        return .needMoreData
    }

    public mutating func decodeLast(
        context: ChannelHandlerContext,
        buffer: inout ByteBuffer,
        seenEOF: Bool
    ) throws -> DecodingState {
        try decode(context: context, buffer: &buffer)
    }
}

