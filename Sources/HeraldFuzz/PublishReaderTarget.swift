import HeraldXMPP
import XMLStream
import XMPPComponent

/// The publish fast path against the tree: the same bytes through a parser with `PublishReader` and one
/// without, in the same chunks and limits, must give the same events, and every publish the reader read
/// must mean exactly what its tree means (the same `PublishParts`, the same `Publish` or refusal).
enum PublishReaderTarget {
    static let target = FuzzTarget(name: "publish", run: run)

    static func run(_ data: UnsafeRawBufferPointer) {
        var input = FuzzInput(data)
        // The same start as the xml target's, so its corpus seeds this one.
        let (limits, chunk) = XMLStreamTarget.limitsAndChunk(&input)
        let body = input.remaining
        let tree = events(body, chunk: chunk, parser: XMLStreamParser(limits: limits))
        let read = events(body, chunk: chunk, parser: XMLStreamParser(limits: limits, readers: [PublishReader()]))
        precondition(tree.events.count == read.events.count, "the reader changed how many events there are")
        precondition(tree.failed == read.failed, "the reader changed whether the stream is refused")
        for (plain, fast) in zip(tree.events, read.events) {
            switch (plain, fast) {
            case (.stanza(let stanza), .read(let read)):
                precondition(read.stanza.name == stanza.name && read.stanza.attributes == stanza.attributes, "the read stanza's start tag differs")
                precondition(read.payload as? PublishParts == PublishParts(tree: stanza), "the reader found other parts than the tree holds")
                let fromTree = Result { () throws(StanzaError) in try PublishParser.parse(stanza) }
                let fromRead = Result { () throws(StanzaError) in try PublishParser.parse(read) }
                precondition(fromTree == fromRead, "a read publish means something else than its tree")
            case (.read, _), (_, .read):
                preconditionFailure("a stanza was read on one side only")
            default:
                precondition(plain == fast, "the reader changed an event it did not read")
            }
        }
    }

    private static func events(_ body: UnsafeRawBufferPointer, chunk: Int, parser: XMLStreamParser) -> (events: [XMLStreamEvent], failed: Bool) {
        var events: [XMLStreamEvent] = []
        do {
            events += try XMLStreamTarget.header.withUnsafeBytes { try parser.feed($0) }
            var offset = 0
            while offset < body.count {
                let length = min(chunk, body.count - offset)
                events += try parser.feed(UnsafeRawBufferPointer(rebasing: body[offset..<offset + length]))
                offset += length
            }
        } catch {
            return (events, true)
        }
        return (events, false)
    }
}
