import Foundation

/// Finding bytes in bytes, for the harness's peers that scan XML rather than parse it (the load
/// generator, the echo component): their own CPU is part of what the benchmark reports.
enum ByteSearch {
    /// Where `needle` starts in `haystack` at or after `from`.
    static func find(_ needle: [UInt8], in haystack: UnsafeRawBufferPointer, from: Int) -> Int? {
        guard let first = needle.first, haystack.count - from >= needle.count, let base = haystack.baseAddress else { return nil }
        var index = from
        let last = haystack.count - needle.count
        while index <= last {
            // memchr finds the first byte; the rest is compared from there.
            guard let hit = memchr(base + index, Int32(first), last - index + 1) else { return nil }
            index = base.distance(to: UnsafeRawPointer(hit))
            if memcmp(base + index, needle, needle.count) == 0 { return index }
            index += 1
        }
        return nil
    }
}
