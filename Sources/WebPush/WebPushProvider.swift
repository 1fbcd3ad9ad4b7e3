import AsyncHTTPClient
import Crypto
import Foundation
import HeraldCore
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

        public init(requestTimeout: Duration = .seconds(10), trustRootsFile: String? = nil) {
            self.requestTimeout = requestTimeout
            self.trustRootsFile = trustRootsFile
        }
    }

    private let vapid: VAPID
    private let client: HTTPClient
    private let configuration: Configuration
    private let logger: Logger

    public init(vapid: VAPID, configuration: Configuration, logger: Logger) throws {
        var tls = TLSConfiguration.makeClientConfiguration()
        if let trustRootsFile = configuration.trustRootsFile { tls.trustRoots = .file(trustRootsFile) }
        var clientConfiguration = HTTPClient.Configuration(tlsConfiguration: tls)
        clientConfiguration.httpVersion = .automatic
        clientConfiguration.timeout = .init(connect: .seconds(10), read: TimeAmount(configuration.requestTimeout))
        self.client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: clientConfiguration)
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
        guard let endpoint = URL(string: registration.token), endpoint.scheme == "https",
            let keys = registration.webPushKeys,
            let p256dh = Base64URL.decode(keys.p256dh), let auth = Base64URL.decode(keys.auth)
        else {
            return .deadToken(reason: "invalid subscription")
        }
        let body: Data
        let authorization: String
        do {
            body = try WebPushEncryption.encrypt(Self.plaintext(for: push), p256dh: p256dh, auth: auth)
            authorization = try vapid.authorization(for: endpoint)
        } catch {
            return .deadToken(reason: "invalid subscription keys")
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
            let response = try await client.execute(request, timeout: TimeAmount(configuration.requestTimeout), logger: logger)
            _ = try? await response.body.collect(upTo: 16 * 1024)
            let retryAfter = response.headers.first(name: "retry-after").flatMap(Int.init).map { Duration.seconds($0) }
            return Self.outcome(status: Int(response.status.code), retryAfter: retryAfter)
        } catch {
            return .retry(reason: "connection failed", retryAfter: nil)
        }
    }

    /// RFC 8030 answers, mapped to what Herald does about them.
    public static func outcome(status: Int, retryAfter: Duration?) -> PushOutcome {
        switch status {
        case 200...299: .delivered(id: nil)
        case 404, 410: .deadToken(reason: "HTTP \(status)")
        case 401, 403: .credentials(reason: "HTTP \(status)")
        case 429, 500...599: .retry(reason: "HTTP \(status)", retryAfter: retryAfter)
        default: .rejected(reason: "HTTP \(status)")
        }
    }

    public func shutdown() async {
        try? await client.shutdown()
    }
}
