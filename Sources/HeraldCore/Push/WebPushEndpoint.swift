import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Which Web Push endpoints Herald will post to. A subscription's endpoint is a URL any client may
/// choose, so without a check a stranger could make Herald send requests into the operator's own
/// network: only https to public addresses is accepted (private ones only where an app allows them,
/// as tests and closed deployments need).
public enum WebPushEndpoint {
    public enum Problem: Error, Sendable, Hashable, CustomStringConvertible {
        case notHTTPS
        case tooLong
        case notPublic

        public var description: String {
            switch self {
            case .notHTTPS: "endpoint must be an https URL with a host"
            case .tooLong: "endpoint must be at most 2048 bytes"
            case .notPublic: "endpoint must be on a public address"
            }
        }
    }

    /// What can be told from the URL alone: https, a host, no credentials, and no literal address or
    /// name that is not public.
    public static func check(_ text: String, allowPrivate: Bool) -> Problem? {
        guard text.utf8.count <= 2048 else { return .tooLong }
        guard let components = URLComponents(string: text), components.scheme?.lowercased() == "https",
            let host = components.host, !host.isEmpty, components.user == nil, components.password == nil
        else { return .notHTTPS }
        if allowPrivate { return nil }
        var name = host.lowercased().trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
        if name.hasSuffix(".") { name.removeLast() }
        if name == "localhost" || name.hasSuffix(".localhost") || name.hasSuffix(".local") || name.hasSuffix(".internal") {
            return .notPublic
        }
        if let address = IPAddress(literal: name), !address.isPublic { return .notPublic }
        return nil
    }
}

/// An IPv4 or IPv6 address, classified by the special-purpose registries (RFC 6890 and successors).
public struct IPAddress: Sendable, Hashable, CustomStringConvertible {
    /// 4 bytes for IPv4, 16 for IPv6.
    public let bytes: [UInt8]

    public init?(bytes: [UInt8]) {
        guard bytes.count == 4 || bytes.count == 16 else { return nil }
        self.bytes = bytes
    }

    /// Parses a dotted IPv4 or an IPv6 literal (without brackets).
    public init?(literal: String) {
        var v4 = in_addr()
        if inet_pton(AF_INET, literal, &v4) == 1 {
            self.bytes = withUnsafeBytes(of: &v4) { Array($0) }
            return
        }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, literal, &v6) == 1 {
            self.bytes = withUnsafeBytes(of: &v6) { Array($0) }
            return
        }
        return nil
    }

    public var description: String {
        bytes.count == 4 ? bytes.map(String.init).joined(separator: ".") : "IPv6 address"
    }

    /// Whether the address is reachable on the public internet: not loopback, private, shared,
    /// link-local, unique-local, multicast, documentation, benchmarking or reserved space.
    public var isPublic: Bool {
        if bytes.count == 4 { return Self.isPublicIPv4(bytes) }
        let b = bytes
        let zeroPrefix = b[0..<10].allSatisfy { $0 == 0 }
        if zeroPrefix, b[10] == 0xFF, b[11] == 0xFF { return Self.isPublicIPv4(Array(b[12..<16])) }  // ::ffff:a.b.c.d
        if b[0..<15].allSatisfy({ $0 == 0 }) { return false }  // :: and ::1
        if zeroPrefix, b[10] == 0, b[11] == 0 { return false }  // deprecated IPv4-compatible
        if b[0] == 0x00, b[1] == 0x64, b[2] == 0xFF, b[3] == 0x9B { return Self.isPublicIPv4(Array(b[12..<16])) }  // 64:ff9b::/96 NAT64
        if b[0] & 0xFE == 0xFC { return false }  // fc00::/7 unique local
        if b[0] == 0xFE, b[1] & 0xC0 == 0x80 || b[1] & 0xC0 == 0xC0 { return false }  // fe80::/10 link-local, fec0::/10 site-local
        if b[0] == 0xFF { return false }  // multicast
        if b[0] == 0x20, b[1] == 0x01, b[2] == 0x0D, b[3] == 0xB8 { return false }  // 2001:db8::/32 documentation
        if b[0] == 0x01, b[1] == 0x00, b[2..<8].allSatisfy({ $0 == 0 }) { return false }  // 100::/64 discard
        if b[0] == 0x20, b[1] == 0x01, b[2] == 0x00, b[3] < 0x02 { return false }  // 2001::/23 protocol assignments (Teredo etc.)
        if b[0] == 0x20, b[1] == 0x02 { return Self.isPublicIPv4(Array(b[2..<6])) }  // 6to4 embeds an IPv4 address
        return true
    }

    private static func isPublicIPv4(_ b: [UInt8]) -> Bool {
        switch (b[0], b[1], b[2]) {
        case (0, _, _), (10, _, _), (127, _, _): false
        case (100, 64...127, _): false  // shared address space (CGNAT)
        case (169, 254, _): false
        case (172, 16...31, _): false
        case (192, 0, 0), (192, 0, 2), (192, 88, 99), (192, 168, _): false
        case (198, 18...19, _), (198, 51, 100), (203, 0, 113): false
        case (224...255, _, _): false  // multicast, reserved, broadcast
        default: true
        }
    }
}
