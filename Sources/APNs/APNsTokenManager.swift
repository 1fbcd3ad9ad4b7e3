import Crypto
import Foundation
import HeraldSupport
import Synchronization
import VendorSupport

/// The APNs provider token: an ES256 JWT (`kid` = key id; `iss` = team, integer `iat`), shared by every
/// request of one key and renewed on a schedule.
///
/// Apple rejects tokens older than an hour (`ExpiredProviderToken`) and new tokens more often than every
/// 20 minutes (`TooManyProviderTokenUpdates`); renewing at 50 minutes stays between the two. A token
/// Apple calls expired is renewed at once, whatever its age.
public final class APNsTokenManager: Sendable {
    public static let defaultLifetime: Duration = .seconds(50 * 60)

    private let key: P256.Signing.PrivateKey
    private let keyID: String
    private let teamID: String
    private let lifetime: Duration
    private let clock: any ServerClock
    private let cached = Mutex<(bearer: String, issuedAt: Date)?>(nil)

    public init(key: P256.Signing.PrivateKey, keyID: String, teamID: String, lifetime: Duration = defaultLifetime, clock: any ServerClock = SystemClock()) {
        self.key = key
        self.keyID = keyID
        self.teamID = teamID
        self.lifetime = lifetime
        self.clock = clock
    }

    /// The `authorization` header value: `bearer <JWT>`.
    public func bearer() throws -> String {
        let current = clock.wallTime
        if let cached = cached.withLock({ $0 }), current.timeIntervalSince(cached.issuedAt) < Double(lifetime.components.seconds) {
            return cached.bearer
        }
        return try renew(at: current, replacing: nil)
    }

    /// Renews the token Apple refused, unless another request already did.
    public func renew(rejected bearer: String) throws -> String {
        try renew(at: clock.wallTime, replacing: bearer)
    }

    private func renew(at time: Date, replacing rejected: String?) throws -> String {
        if let rejected, let cached = cached.withLock({ $0 }), cached.bearer != rejected {
            return cached.bearer
        }
        let bearer = "bearer " + (try Self.makeJWT(key: key, keyID: keyID, teamID: teamID, issuedAt: time))
        cached.withLock { $0 = (bearer, time) }
        return bearer
    }

    /// Builds and signs the JWT. The signature is JOSE's raw r‖s, not DER.
    static func makeJWT(key: P256.Signing.PrivateKey, keyID: String, teamID: String, issuedAt: Date) throws -> String {
        var header = JSONWriter()
        header.beginObject()
        header.string("alg", "ES256")
        header.string("kid", keyID)
        header.endObject()
        var claims = JSONWriter()
        claims.beginObject()
        claims.string("iss", teamID)
        claims.number("iat", Int(issuedAt.timeIntervalSince1970))
        claims.endObject()
        return try JWT.sign(header: header.text, claims: claims.text, with: .es256(key))
    }
}

