import Testing

@testable import XMLStream

@Suite struct InternedStringsTests {
    /// NUL-terminated text at a fixed address, as libxml2's dictionary holds it.
    private final class CText {
        let pointer: UnsafeMutablePointer<UInt8>
        init(_ text: String, capacity: Int = 64) {
            pointer = .allocate(capacity: capacity)
            set(text)
        }
        func set(_ text: String) {
            let bytes = Array(text.utf8)
            pointer.update(from: bytes, count: bytes.count)
            pointer[bytes.count] = 0
        }
        deinit { pointer.deallocate() }
    }

    @Test func theSameAddressGivesTheSameTextAndTheTransformRunsOncePerText() {
        var transforms = 0
        var table = InternedStrings(slotCount: 8) { text in
            transforms += 1
            return text.uppercased()
        }
        let name = CText("message")
        let copy = CText("message")
        #expect(table.string(at: name.pointer) == "MESSAGE")
        #expect(table.string(at: name.pointer) == "MESSAGE")
        #expect(transforms == 1)
        // Another address with the same text is another entry, with the same answer.
        #expect(table.string(at: copy.pointer) == "MESSAGE")
        #expect(transforms == 2)
    }

    /// An address whose text changed (memory libxml2 freed and reused) is read again, never answered
    /// from the table: the bytes are compared on every hit, not only the address.
    @Test func anAddressNowHoldingOtherTextIsReadAgain() {
        var table = InternedStrings(slotCount: 8)
        let text = CText("jabber:client")
        #expect(table.string(at: text.pointer) == "jabber:client")
        text.set("jabber:server")
        #expect(table.string(at: text.pointer) == "jabber:server")
        text.set("short")
        #expect(table.string(at: text.pointer) == "short")
        text.set("")
        #expect(table.string(at: text.pointer) == "")
        text.set("jabber:client")
        #expect(table.string(at: text.pointer) == "jabber:client")
    }

    /// Far more distinct texts than slots, several rounds: every answer is right, whichever evicted which.
    @Test func textsSharingSlotsTakeTurnsAndAreAlwaysRight() {
        var table = InternedStrings(slotCount: 4)
        let texts = (0..<200).map { CText("name-\($0)") }
        for _ in 0..<3 {
            for (index, text) in texts.enumerated() {
                #expect(table.string(at: text.pointer) == "name-\(index)")
            }
        }
        for (index, text) in texts.enumerated().reversed() {
            #expect(table.string(at: text.pointer) == "name-\(index)")
        }
    }

    /// libxml2's dictionary packs its strings end to end, a few bytes apart: neighbours must not take
    /// turns in one slot, or every stanza's "iq", "id" and "to" would be made again and again.
    @Test func textsPackedEndToEndEachKeepASlot() {
        let names = ["iq", "id", "to", "from", "type", "set", "pubsub", "publish", "node", "item", "x", "field", "var", "value"]
        let packed: [UInt8] = names.flatMap { name -> [UInt8] in Array(name.utf8) + [0] }
        // Aligned as a run of the table's size, so the test does not depend on where the buffer lands.
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: 512, alignment: 512)
        defer { buffer.deallocate() }
        buffer.copyMemory(from: packed, byteCount: packed.count)
        var offsets: [Int] = []
        var offset = 0
        for name in names {
            offsets.append(offset)
            offset += name.utf8.count + 1
        }
        var transforms = 0
        var table = InternedStrings(slotCount: 512) { text in
            transforms += 1
            return text
        }
        for _ in 0..<5 {
            for (name, offset) in zip(names, offsets) {
                #expect(table.string(at: (buffer + offset).assumingMemoryBound(to: UInt8.self)) == name)
            }
        }
        #expect(transforms == names.count)
    }

    /// Every address of an aligned run of the table's size has a slot of its own, for the parser's
    /// table sizes.
    @Test func everyAddressOfAnAlignedRunHasItsOwnSlot() {
        for slotBits in [7, 9] {
            let size = 1 << slotBits
            let buffer = UnsafeMutableRawPointer.allocate(byteCount: size * 4, alignment: size)
            defer { buffer.deallocate() }
            for run in 0..<4 {
                let slots = Set((0..<size).map { InternedStrings.slot(for: buffer + run * size + $0, slotBits: slotBits) })
                #expect(slots.count == size)
            }
        }
    }

    @Test func nonASCIITextIsKeptWhole() {
        var table = InternedStrings(slotCount: 2)
        let text = CText("urn:exämple:ns:日本")
        #expect(table.string(at: text.pointer) == "urn:exämple:ns:日本")
        #expect(table.string(at: text.pointer) == "urn:exämple:ns:日本")
    }
}
