#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The Strings for names and namespace URIs that libxml2 hands over as NUL-terminated bytes, made once
/// per distinct text: libxml2 keeps one copy of each in its dictionary, so the same name arrives at the
/// same address, and a stanza repeats the same few dozen.
///
/// A table of slots picked by address, not a `Dictionary`: hashing an address was most of the cost of a
/// lookup, and a stream has so few distinct names that two rarely share a slot (if they do, they take
/// turns). The bytes are compared on every hit, so an address that came to hold other text is never
/// mistaken for a hit. Memory is bounded by the slot count, however many names a peer invents.
struct InternedStrings {
    private struct Entry {
        var address: UnsafeRawPointer
        /// The text as libxml2 gave it, compared on each hit.
        var raw: [UInt8]
        /// What callers get: `raw` as a String, after `transform`.
        var string: String
    }

    private var slots: [Entry?]
    private let transform: (String) -> String

    /// `slotCount`: a power of two. `transform`: applied once to each new text (URIs are decoded, say).
    init(slotCount: Int, transform: @escaping (String) -> String = { $0 }) {
        precondition(slotCount > 0 && slotCount.nonzeroBitCount == 1, "slotCount must be a power of two")
        slots = Array(repeating: nil, count: slotCount)
        self.transform = transform
    }

    mutating func string(at pointer: UnsafePointer<UInt8>) -> String {
        let address = UnsafeRawPointer(pointer)
        let length = strlen(UnsafeRawPointer(pointer).assumingMemoryBound(to: CChar.self))
        let bits = UInt(bitPattern: address)
        // libxml2's dictionary entries are at least 8-byte aligned; mixing in higher bits spreads them.
        let slot = Int(truncatingIfNeeded: (bits >> 3) ^ (bits >> 11)) & (slots.count - 1)
        if let entry = slots[slot], entry.address == address, entry.raw.count == length,
            length == 0 || entry.raw.withUnsafeBytes({ memcmp($0.baseAddress!, address, length) == 0 })
        {
            return entry.string
        }
        let bytes = UnsafeBufferPointer(start: pointer, count: length)
        let string = transform(String(decoding: bytes, as: UTF8.self))
        slots[slot] = Entry(address: address, raw: Array(bytes), string: string)
        return string
    }
}
