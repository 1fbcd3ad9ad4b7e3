import Testing

@testable import XMLStream

@Suite struct KnownStringsTests {
    private static let known = KnownStrings(["FORM_TYPE", "last-message-sender", "urn:xmpp:push:summary", ""])

    private static func storage(_ string: String) -> UnsafeRawPointer? {
        string.utf8.withContiguousStorageIfAvailable { UnsafeRawPointer($0.baseAddress) } ?? nil
    }

    private static func lookUp(_ text: String) -> String? {
        Array(text.utf8).withUnsafeBufferPointer { known.string(for: $0) }
    }

    @Test func bytesSpellingAKnownTextGiveThatStringItself() throws {
        let first = try #require(Self.lookUp("urn:xmpp:push:summary"))
        let second = try #require(Self.lookUp("urn:xmpp:push:summary"))
        #expect(first == "urn:xmpp:push:summary")
        // The same storage each time: no new String was made.
        #expect(Self.storage(first) != nil)
        #expect(Self.storage(first) == Self.storage(second))
        #expect(Self.lookUp("last-message-sender") == "last-message-sender")
        #expect(Self.lookUp("FORM_TYPE") == "FORM_TYPE")
        #expect(Self.lookUp("") == "")
    }

    @Test func anyOtherBytesAreNotKnown() {
        #expect(Self.lookUp("FORM_TYPF") == nil, "same length, one byte off")
        #expect(Self.lookUp("FORM_TYP") == nil, "a prefix")
        #expect(Self.lookUp("FORM_TYPE ") == nil, "longer")
        #expect(Self.lookUp("form_type") == nil, "case counts")
        #expect(Self.lookUp("urn:xmpp:push:summarx") == nil)
    }

    @Test func decodingGivesUnknownBytesAsANewString() {
        let text = "last-message-body, not known"
        let decoded = Array(text.utf8).withUnsafeBufferPointer { Self.known.string(decoding: $0) }
        #expect(decoded == text)
        let nonASCII = "nachricht-zähler"
        #expect(Array(nonASCII.utf8).withUnsafeBufferPointer { Self.known.string(decoding: $0) } == nonASCII)
    }
}
