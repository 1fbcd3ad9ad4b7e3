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
    /// log2 of the slot count: the address bits above the ones that pick a slot directly.
    private let slotBits: Int
    private let transform: (String) -> String

    /// `slotCount`: a power of two. `transform`: applied once to each new text (URIs are decoded, say).
    init(slotCount: Int, transform: @escaping (String) -> String = { $0 }) {
        precondition(slotCount > 0 && slotCount.nonzeroBitCount == 1, "slotCount must be a power of two")
        slots = Array(repeating: nil, count: slotCount)
        slotBits = slotCount.trailingZeroBitCount
        self.transform = transform
    }

    mutating func string(at pointer: UnsafePointer<UInt8>) -> String {
        let address = UnsafeRawPointer(pointer)
        let length = strlen(UnsafeRawPointer(pointer).assumingMemoryBound(to: CChar.self))
        let slot = Self.slot(for: address, slotBits: slotBits)
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

    /// libxml2's dictionary packs its strings end to end, unaligned ("iq", "id", "to" a few bytes
    /// apart), so every low bit of the address counts: any texts within one aligned run of `slotCount`
    /// bytes get slots of their own, and the bits above are folded in to spread the runs.
    static func slot(for address: UnsafeRawPointer, slotBits: Int) -> Int {
        let bits = UInt(bitPattern: address)
        return Int(truncatingIfNeeded: bits ^ (bits >> slotBits)) & ((1 << slotBits) - 1)
    }
}
