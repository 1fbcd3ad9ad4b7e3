import Synchronization

/// `apns-id` values: version 4 UUIDs in lowercase, as Apple shows them, made without Foundation's
/// `UUID` and its uppercase string, lowercased again, on every push, and without asking the kernel for
/// randomness each time: the first half is drawn once per process, the second is a counter passed through
/// a permutation of 62 bits keyed by another draw, so that no two in a process are equal.
enum APNsID {
    private static let prefix = UInt64.random(in: .min ... .max)
    private static let key = UInt64.random(in: .min ... .max)
    private static let counter = Atomic<UInt64>(0)

    static func make() -> String {
        var high = prefix
        // Cycle-walking keeps the permutation within the 62 bits the variant leaves.
        let mask: UInt64 = 0x3FFF_FFFF_FFFF_FFFF
        var low = (counter.wrappingAdd(1, ordering: .relaxed).oldValue & mask) ^ (key & mask)
        repeat { low = mix(low) } while low > mask
        // Version 4 and the RFC 4122 variant.
        high = (high & 0xFFFF_FFFF_FFFF_0FFF) | 0x0000_0000_0000_4000
        low |= 0x8000_0000_0000_0000
        return String(unsafeUninitializedCapacity: 36) { buffer in
            let digits: StaticString = "0123456789abcdef"
            var position = 0
            func put(_ value: UInt64, nibbles: Int) {
                for shift in stride(from: (nibbles - 1) * 4, through: 0, by: -4) {
                    buffer[position] = digits.utf8Start[Int((value >> UInt64(shift)) & 0xF)]
                    position += 1
                }
            }
            func dash() {
                buffer[position] = UInt8(ascii: "-")
                position += 1
            }
            put(high >> 32, nibbles: 8)
            dash()
            put((high >> 16) & 0xFFFF, nibbles: 4)
            dash()
            put(high & 0xFFFF, nibbles: 4)
            dash()
            put(low >> 48, nibbles: 4)
            dash()
            put(low & 0xFFFF_FFFF_FFFF, nibbles: 12)
            return position
        }
    }

    /// SplitMix64's finalizer: a bijection on 64 bits that scatters consecutive counters.
    private static func mix(_ value: UInt64) -> UInt64 {
        var z = value &+ 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
