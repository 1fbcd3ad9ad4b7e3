/// A Web Push subscription's keys (RFC 8291): the user agent's P-256 public key and auth secret.
public struct WebPushKeys: Sendable, Hashable, Codable {
    /// Base64url of the 65-byte uncompressed P-256 point.
    public var p256dh: String
    /// Base64url of the 16-byte authentication secret.
    public var auth: String

    public init(p256dh: String, auth: String) {
        self.p256dh = p256dh
        self.auth = auth
    }
}
