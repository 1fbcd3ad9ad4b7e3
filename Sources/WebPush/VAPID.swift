import Crypto
import Foundation
import HeraldSupport
import Synchronization
import VendorSupport

/// RFC 8292 VAPID: an ES256 JWT per push-service origin (`aud`), valid 12 hours (the limit is 24),
/// reused until an hour before it expires.
public final class VAPID: Sendable {
    static let lifetime: TimeInterval = 12 * 3600
    static let renewBefore: TimeInterval = 3600

    private let key: P256.Signing.PrivateKey
    private let subject: String
    private let clock: any ServerClock
    private let cache = Mutex<[String: (header: String, expires: Date)]>([:])
    /// The public key as the `k=` parameter wants it: base64url of the uncompressed point.
    public let publicKey: String

    public init(key: P256.Signing.PrivateKey, subject: String, clock: any ServerClock = SystemClock()) {
        self.key = key
        self.subject = subject
        self.clock = clock
        self.publicKey = Base64URL.encode(key.publicKey.x963Representation)
    }

    /// The `authorization` header for a push to `endpoint`.
    public func authorization(for endpoint: URL) throws -> String {
        guard let scheme = endpoint.scheme, let host = endpoint.host else { throw WebPushEncryption.InvalidSubscription(description: "endpoint has no origin") }
        let origin = endpoint.port.map { "\(scheme)://\(host):\($0)" } ?? "\(scheme)://\(host)"
        let current = clock.wallTime
        if let cached = cache.withLock({ $0[origin] }), current < cached.expires.addingTimeInterval(-Self.renewBefore) {
            return cached.header
        }
        let expires = current.addingTimeInterval(Self.lifetime)
        var claims = JSONWriter()
        claims.beginObject()
        claims.string("aud", origin)
        claims.number("exp", Int(expires.timeIntervalSince1970))
        claims.string("sub", subject)
        claims.endObject()
        let token = try JWT.sign(header: #"{"typ":"JWT","alg":"ES256"}"#, claims: claims.text, with: .es256(key))
        let header = "vapid t=\(token), k=\(publicKey)"
        cache.withLock { cache in
            if cache.count > 10_000 { cache.removeAll() }
            cache[origin] = (header, expires)
        }
        return header
    }
}
