import AsyncHTTPClient
import Crypto
import Foundation
import HeraldCore
import HeraldSupport
import Logging
import NIOCore
import NIOHTTP1
import NIOSSL
import VendorSupport

/// Delivers pushes to Web Push / UnifiedPush endpoints (RFC 8030), encrypted (RFC 8291) and signed
/// with VAPID (RFC 8292).
///
/// Endpoints live on any host and some distributors speak only HTTP/1.1, so this provider uses
/// AsyncHTTPClient, which negotiates HTTP/2 where offered and pools connections per host.
public final class WebPushProvider: PushProvider {
    public struct Configuration: Sendable {
        public var requestTimeout: Duration
        public var trustRootsFile: String?
        /// Post to endpoints on loopback and private addresses too (tests, closed networks).
        public var allowPrivateEndpoints: Bool
        /// Endpoints not excluded by its `NO_PROXY` list are reached through this proxy's CONNECT.
        public var proxy: EgressProxy?

        public init(requestTimeout: Duration = .seconds(10), trustRootsFile: String? = nil, allowPrivateEndpoints: Bool = false, proxy: EgressProxy? = nil) {
            self.requestTimeout = requestTimeout
            self.trustRootsFile = trustRootsFile
            self.allowPrivateEndpoints = allowPrivateEndpoints
            self.proxy = proxy
        }
    }

    private let vapid: VAPID
    private let client: HTTPClient
    /// The same client through the proxy, for endpoints `NO_PROXY` does not name.
    private let proxiedClient: HTTPClient?
    private let configuration: Configuration
    private let logger: Logger
    private let clock: any ServerClock

    public init(vapid: VAPID, configuration: Configuration, logger: Logger, clock: any ServerClock = SystemClock()) {
        self.clock = clock
        var tls = TLSConfiguration.makeClientConfiguration()
        if let trustRootsFile = configuration.trustRootsFile { tls.trustRoots = .file(trustRootsFile) }
        var clientConfiguration = HTTPClient.Configuration(tlsConfiguration: tls)
        clientConfiguration.httpVersion = .automatic
        clientConfiguration.timeout = .init(connect: .seconds(10), read: TimeAmount(configuration.requestTimeout))
        // A redirect would take the request to a URL no check has seen.
        clientConfiguration.redirectConfiguration = .disallow
        self.client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: clientConfiguration)
        if let proxy = configuration.proxy?.server {
            clientConfiguration.proxy = .server(
                host: proxy.host, port: proxy.port, authorization: proxy.basicCredentials.map { .basic(credentials: $0) }
            )
            proxiedClient = HTTPClient(eventLoopGroupProvider: .singleton, configuration: clientConfiguration)
        } else {
            proxiedClient = nil
        }
        self.vapid = vapid
        self.configuration = configuration
        self.logger = logger
    }

    /// The message the device decrypts: a small JSON summary, with text only where the app allows it.
    public static func plaintext(for push: PushRequest) -> Data {
        var json = JSONWriter()
        json.beginObject()
        json.string("type", "push")
        json.string("priority", push.pushClass == .background ? "normal" : "high")
        if let account = push.registration.pushAccount { json.string("account", account) }
        if let summary = push.publish.summary {
            if let count = summary.messageCount { json.number("unread", count) }
            if push.content.forwardSender, let sender = summary.lastMessageSender { json.string("sender", sender) }
            if push.content.forwardBody, let body = summary.lastMessageBody { json.string("body", body) }
        }
        json.endObject()
        return Data(json.text.utf8)
    }

    public func send(_ push: PushRequest) async -> PushOutcome {
        let registration = push.registration
        guard WebPushEndpoint.check(registration.token, allowPrivate: configuration.allowPrivateEndpoints) == nil,
            let endpoint = URL(string: registration.token), let keys = registration.webPushKeys,
            let p256dh = Base64URL.decode(keys.p256dh), let auth = Base64URL.decode(keys.auth)
        else {
            return .deadToken(reason: "invalid subscription")
        }
        let body: Data
        let authorization: String
        do {
            body = try WebPushEncryption.encrypt(Self.plaintext(for: push), p256dh: Data(p256dh), auth: Data(auth))
            authorization = try vapid.authorization(for: endpoint)
        } catch {
            return .deadToken(reason: "invalid subscription keys")
        }
        if !configuration.allowPrivateEndpoints, let host = endpoint.host {
            switch await Self.resolvesPublicly(host) {
            case .public: break
            case .notPublic: return .deadToken(reason: "endpoint is not on a public address")
            case .unresolved: return .retry(reason: "endpoint host did not resolve", retryAfter: nil)
            }
        }
        var request = HTTPClientRequest(url: registration.token)
        request.method = .POST
        request.headers.add(name: "TTL", value: String(push.content.timeToLive))
        request.headers.add(name: "Urgency", value: push.pushClass == .background ? "normal" : "high")
        if push.content.collapse {
            // A Topic replaces an undelivered message with the same topic (≤ 32 base64url characters).
            request.headers.add(name: "Topic", value: "herald" + Redaction.fingerprint(registration.node))
        }
        request.headers.add(name: "Content-Encoding", value: "aes128gcm")
        request.headers.add(name: "Content-Type", value: "application/octet-stream")
        request.headers.add(name: "Authorization", value: authorization)
        request.body = .bytes(ByteBuffer(bytes: body))
        do {
            let proxied = endpoint.host.map { configuration.proxy?.server(for: $0) != nil } ?? false
            let client = proxied ? proxiedClient ?? self.client : self.client
            let response = try await client.execute(request, timeout: TimeAmount(configuration.requestTimeout), logger: logger)
            _ = try? await response.body.collect(upTo: 16 * 1024)
            let retryAfter = RetryAfter.parse(response.headers.first(name: "retry-after"), now: clock.wallTime)
            return Self.outcome(status: Int(response.status.code), retryAfter: retryAfter)
        } catch {
            return .retry(reason: "connection failed", retryAfter: nil)
        }
    }

    enum Resolution: Sendable, Hashable { case `public`, notPublic, unresolved }

    /// Whether every address `host` resolves to is public. The name is resolved again by the HTTP
    /// client when it connects, so a name whose answers change in between could still slip through;
    /// this check keeps ordinary subscriptions from pointing into the operator's network.
    static func resolvesPublicly(_ host: String) async -> Resolution {
        if let literal = IPAddress(literal: host.trimmingCharacters(in: CharacterSet(charactersIn: "[]"))) {
            return literal.isPublic ? .public : .notPublic
        }
        let addresses = await withCheckedContinuation { continuation in
            DispatchQueue.global().async { continuation.resume(returning: resolve(host)) }
        }
        guard let addresses, !addresses.isEmpty else { return .unresolved }
        return addresses.allSatisfy(\.isPublic) ? .public : .notPublic
    }

    /// getaddrinfo's answers for `host` (blocking: run off the event loops).
    static func resolve(_ host: String) -> [IPAddress]? {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var results: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, "443", &hints, &results) == 0, let first = results else { return nil }
        defer { freeaddrinfo(first) }
        var addresses: [IPAddress] = []
        var cursor: UnsafeMutablePointer<addrinfo>? = first
        while let info = cursor {
            if let address = info.pointee.ai_addr {
                switch Int32(address.pointee.sa_family) {
                case AF_INET:
                    let v4 = address.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { $0.pointee.sin_addr }
                    if let ip = withUnsafeBytes(of: v4, { IPAddress(bytes: Array($0)) }) { addresses.append(ip) }
                case AF_INET6:
                    let v6 = address.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { $0.pointee.sin6_addr }
                    if let ip = withUnsafeBytes(of: v6, { IPAddress(bytes: Array($0)) }) { addresses.append(ip) }
                default: break
                }
            }
            cursor = info.pointee.ai_next
        }
        return addresses
    }

    /// RFC 8030 answers, mapped to what Herald does about them.
    public static func outcome(status: Int, retryAfter: Duration?) -> PushOutcome {
        switch status {
        case 200...299: .delivered(id: nil)
        case 404, 410: .deadToken(reason: .code("HTTP \(status)"))
        case 401, 403: .credentials(reason: .code("HTTP \(status)"))
        case 429, 500...599: .retry(reason: .code("HTTP \(status)"), retryAfter: retryAfter)
        default: .rejected(reason: .code("HTTP \(status)"))
        }
    }

    public func shutdown() async {
        try? await client.shutdown()
        try? await proxiedClient?.shutdown()
    }
}
