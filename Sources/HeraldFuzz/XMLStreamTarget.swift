import XMLStream

/// The stream parser fed arbitrary bytes in arbitrary chunks, after a real stream header: it must
/// refuse or parse, never crash, and what it parses must survive serializing and parsing again.
enum XMLStreamTarget {
    static let target = FuzzTarget(name: "xml", run: run)
    static let header = Array("""
        <?xml version='1.0'?><stream:stream xmlns:stream='http://etherx.jabber.org/streams' \
        xmlns='jabber:component:accept' from='push.example.com' id='fuzz'>
        """.utf8)

    /// The limits and chunk size an input starts with (its first four bytes). Small limits, so that the
    /// fuzzer reaches the skipping paths with small inputs.
    static func limitsAndChunk(_ input: inout FuzzInput) -> (XMLStreamParser.Limits, chunk: Int) {
        let limits = XMLStreamParser.Limits(
            maximumDepth: 4 + Int(input.byte() % 8), maximumStanzaBytes: 256 + Int(input.uint16() % 4096),
            maximumBufferedBytes: 8192, maximumSkippedDepth: 64
        )
        return (limits, 1 + Int(input.byte() % 64))
    }

    static func run(_ data: UnsafeRawBufferPointer) {
        var input = FuzzInput(data)
        let (limits, chunk) = limitsAndChunk(&input)
        let parser = XMLStreamParser(limits: limits)
        var events: [XMLStreamEvent] = []
        do {
            events += try header.withUnsafeBytes { try parser.feed($0) }
            let body = input.remaining
            var offset = 0
            while offset < body.count {
                let length = min(chunk, body.count - offset)
                events += try parser.feed(UnsafeRawBufferPointer(rebasing: body[offset..<offset + length]))
                offset += length
            }
        } catch {
            // Refusing is fine; what was parsed before the refusal is still checked below.
        }
        for case .stanza(let stanza) in events {
            checkRoundTrip(stanza, limits: limits)
        }
    }

    /// A parsed stanza, serialized by Herald, parses back to the same tree.
    static func checkRoundTrip(_ stanza: StreamElement, limits: XMLStreamParser.Limits) {
        let text = XMLSerializer.serialize(stanza, inheritedNamespace: "jabber:component:accept")
        let again = XMLStreamParser(limits: XMLStreamParser.Limits(
            maximumDepth: limits.maximumDepth, maximumStanzaBytes: 1 << 24, maximumBufferedBytes: 1 << 24
        ))
        do {
            let events = try again.feed(header + Array(text.utf8))
            guard case .stanza(let reparsed)? = events.last else {
                preconditionFailure("a serialized stanza did not parse back: \(text)")
            }
            precondition(reparsed == stanza, "a stanza changed through serializing: \(text)")
        } catch {
            preconditionFailure("a serialized stanza was refused (\(error)): \(text)")
        }
    }
}
