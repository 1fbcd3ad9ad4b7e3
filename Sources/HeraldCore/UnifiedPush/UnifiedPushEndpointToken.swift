import Crypto
import Foundation
import HeraldSupport

/// The token in a UnifiedPush endpoint URL (`…/push/<token>`): who the pushes are for, signed, so that
/// Herald as the provider keeps no state per endpoint. It carries the distributor's full JID (the
/// client that registered), the application and instance it registered for, the component that
/// answered, and when it expires; an HMAC-SHA256 under `unified_push.secret` makes it unforgeable.
public struct UnifiedPushEndpointToken: Sendable, Hashable, Codable {
    /// The distributor: the full JID of the client that registered.
    public var jid: String
    public var instance: String
    public var application: String
    /// The component domain the registration was made at, which pushes come from.
    public var component: String
    /// Seconds since 1970.
    public var expires: Int64

    enum CodingKeys: String, CodingKey {
        case jid = "sub", instance = "i", application = "a", component = "c", expires = "exp"
    }

    public init(jid: String, instance: String, application: String, component: String, expires: Int64) {
        self.jid = jid
        self.instance = instance
        self.application = application
        self.component = component
        self.expires = expires
    }

    /// Why a token was not taken.
    public enum Problem: Error, Sendable, Hashable {
        /// Not a token of ours: malformed, forged, or signed under another secret.
        case invalid
        /// Ours, but past its expiry: the application server must ask its app for a new endpoint.
        case expired
    }
}

/// Signs and checks endpoint tokens under one secret.
public struct UnifiedPushEndpointTokens: Sendable {
    private let key: SymmetricKey
    /// A URL path segment is no place for more; a longer one is refused before any work.
    public static let maximumTokenBytes = 2048

    public init(secret: String) {
        // Domain-separated from any other use of the same secret.
        key = SymmetricKey(data: HMAC<SHA256>.authenticationCode(for: Array("herald unified push endpoint v1".utf8), using: SymmetricKey(data: Array(secret.utf8))))
    }

    public func sign(_ token: UnifiedPushEndpointToken) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        let payload = Array((try? encoder.encode(token)) ?? Data())
        let mac = HMAC<SHA256>.authenticationCode(for: payload, using: key)
        return Base64URL.encode(payload) + "." + Base64URL.encode(Array(mac))
    }

    public func verify(_ text: some StringProtocol, now: Date) -> Result<UnifiedPushEndpointToken, UnifiedPushEndpointToken.Problem> {
        guard text.utf8.count <= Self.maximumTokenBytes else { return .failure(.invalid) }
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 2, let payload = Base64URL.decode(parts[0]), let mac = Base64URL.decode(parts[1]),
              HMAC<SHA256>.isValidAuthenticationCode(mac, authenticating: payload, using: key),
              let token = try? JSONDecoder().decode(UnifiedPushEndpointToken.self, from: Data(payload))
        else { return .failure(.invalid) }
        guard Double(token.expires) > now.timeIntervalSince1970 else { return .failure(.expired) }
        return .success(token)
    }
}
