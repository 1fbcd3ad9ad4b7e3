#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A few texts a reader expects again and again (field names, form types): bytes equal to one of them
/// come back as that String, shared, rather than as a new one. Longer than 15 bytes, a new String is
/// an allocation, and every publish repeats the same ones.
public struct KnownStrings: Sendable {
    private let strings: [String]
    private let lengths: [Int]

    public init(_ strings: [String]) {
        self.strings = strings.map { var string = $0; string.makeContiguousUTF8(); return string }
        self.lengths = strings.map(\.utf8.count)
    }

    /// The known String with exactly these bytes, if there is one.
    public func string(for bytes: UnsafeBufferPointer<UInt8>) -> String? {
        for index in strings.indices where lengths[index] == bytes.count {
            let matches = strings[index].utf8.withContiguousStorageIfAvailable { known in
                bytes.count == 0 || memcmp(known.baseAddress!, bytes.baseAddress!, bytes.count) == 0
            }
            if matches == true { return strings[index] }
        }
        return nil
    }

    /// `bytes` as a String: the known one if they spell it, else a new one.
    public func string(decoding bytes: UnsafeBufferPointer<UInt8>) -> String {
        string(for: bytes) ?? String(decoding: bytes, as: UTF8.self)
    }
}
