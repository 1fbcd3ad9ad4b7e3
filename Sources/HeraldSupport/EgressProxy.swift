import Foundation

/// An HTTP proxy that vendor connections go out through with `CONNECT` (corporate networks allow
/// nothing else out), and the hosts that are reached directly (`NO_PROXY`).
///
/// The forms curl and most tools accept: `http://[user:password@]host[:port]` (port 1080 when left
/// out, as curl assumes), or `host:port`; `NO_PROXY` is a comma-separated list of host names (each
/// also matching its subdomains, with or without a leading dot), IP addresses, IPv4 CIDR blocks, or `*`.
public struct EgressProxy: Sendable, Hashable {
    public struct Server: Sendable, Hashable {
        public var host: String
        public var port: Int
        /// The `Proxy-Authorization` value (`Basic …`) when the URL carries credentials.
        public var authorization: String?

        /// The base64 `user:password` of a `Basic` authorization.
        public var basicCredentials: String? {
            authorization.flatMap { $0.hasPrefix("Basic ") ? String($0.dropFirst(6)) : nil }
        }

        public init(host: String, port: Int, authorization: String? = nil) {
            self.host = host
            self.port = port
            self.authorization = authorization
        }
    }

    public struct InvalidURL: Error, Sendable, Hashable, CustomStringConvertible {
        public var problem: String
        public var description: String { problem }
    }

    public var server: Server
    public var exclusions: [String]

    public init(url: String, noProxy: String = "") throws(InvalidURL) {
        server = try Self.parse(url)
        exclusions = noProxy.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces).lowercased() }.filter { !$0.isEmpty }
    }

    /// `HTTPS_PROXY` (or `https_proxy`) and `NO_PROXY` (or `no_proxy`); nil when no proxy is set.
    public static func fromEnvironment(_ environment: [String: String]) throws(InvalidURL) -> EgressProxy? {
        let url = [environment["HTTPS_PROXY"], environment["https_proxy"]].compactMap { $0 }.first { !$0.isEmpty }
        guard let url else { return nil }
        return try EgressProxy(url: url, noProxy: environment["NO_PROXY"] ?? environment["no_proxy"] ?? "")
    }

    /// The proxy to reach `host` through, or nil when `NO_PROXY` says to connect directly.
    public func server(for host: String) -> Server? {
        let host = host.lowercased().trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
        for entry in exclusions {
            if entry == "*" { return nil }
            var pattern = entry
            // "host:port" entries: the port is not considered (vendor hosts are reached on one port).
            if let colon = pattern.lastIndex(of: ":"), pattern.firstIndex(of: ":") == colon { pattern = String(pattern[..<colon]) }
            if pattern.contains("/"), Self.ipv4(host, isIn: pattern) { return nil }
            if pattern.hasPrefix(".") { pattern.removeFirst() }
            if host == pattern || host.hasSuffix("." + pattern) { return nil }
        }
        return server
    }

    private static func parse(_ url: String) throws(InvalidURL) -> Server {
        var rest = Substring(url.trimmingCharacters(in: .whitespaces))
        if let scheme = rest.range(of: "://") {
            let name = rest[..<scheme.lowerBound].lowercased()
            guard name == "http" else {
                throw InvalidURL(problem: "the proxy must be an http:// URL (the tunnel to the vendor is TLS either way), not \(name)://")
            }
            rest = rest[scheme.upperBound...]
        }
        if rest.hasSuffix("/") { rest.removeLast() }
        guard !rest.contains("/") else { throw InvalidURL(problem: "a proxy URL has no path") }
        var authorization: String?
        if let at = rest.lastIndex(of: "@") {
            let credentials = String(rest[..<at])
            rest = rest[rest.index(after: at)...]
            let decoded = credentials.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
                .map { $0.removingPercentEncoding ?? String($0) }.joined(separator: ":")
            authorization = "Basic " + Data(decoded.utf8).base64EncodedString()
        }
        var host = rest
        var port = 1080
        if rest.hasPrefix("[") {
            guard let close = rest.firstIndex(of: "]") else { throw InvalidURL(problem: "an IPv6 proxy address needs its closing ]") }
            host = rest[rest.index(after: rest.startIndex)..<close]
            let after = rest[rest.index(after: close)...]
            if after.hasPrefix(":") { port = try parsePort(after.dropFirst()) } else if !after.isEmpty {
                throw InvalidURL(problem: "unexpected text after the proxy's address")
            }
        } else if let colon = rest.lastIndex(of: ":") {
            host = rest[..<colon]
            port = try parsePort(rest[rest.index(after: colon)...])
        }
        guard !host.isEmpty else { throw InvalidURL(problem: "the proxy URL names no host") }
        return Server(host: String(host), port: port, authorization: authorization)
    }

    private static func parsePort(_ text: Substring) throws(InvalidURL) -> Int {
        guard let port = Int(text), (1...65535).contains(port) else { throw InvalidURL(problem: "the proxy port must be 1 to 65535") }
        return port
    }

    private static func ipv4(_ host: String, isIn block: String) -> Bool {
        let parts = block.split(separator: "/")
        guard parts.count == 2, let bits = Int(parts[1]), (0...32).contains(bits),
              let network = ipv4Value(String(parts[0])), let address = ipv4Value(host) else { return false }
        let mask: UInt32 = bits == 0 ? 0 : ~UInt32(0) << (32 - bits)
        return address & mask == network & mask
    }

    private static func ipv4Value(_ text: String) -> UInt32? {
        let octets = text.split(separator: ".", omittingEmptySubsequences: false).compactMap { UInt8($0) }
        guard octets.count == 4, text.split(separator: ".", omittingEmptySubsequences: false).count == 4 else { return nil }
        return octets.reduce(0) { $0 << 8 | UInt32($1) }
    }
}
