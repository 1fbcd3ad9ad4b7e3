public import Crypto
public import CryptoExtras
import Foundation
import HeraldSupport

/// Compact JWS signing for the vendors' tokens: ES256 (APNs provider tokens, VAPID) and RS256
/// (Google's service-account assertion). Header and claims come in as JSON text so each caller writes
/// exactly the fields its vendor wants, with integer timestamps.
public enum JWT {
    public enum Signer: Sendable {
        case es256(P256.Signing.PrivateKey)
        case rs256(_RSA.Signing.PrivateKey)
    }

    public static func sign(header: String, claims: String, with signer: Signer) throws -> String {
        let signingInput = Base64URL.encode(Array(header.utf8)) + "." + Base64URL.encode(Array(claims.utf8))
        let data = Data(signingInput.utf8)
        let signature: Data = switch signer {
        // JOSE wants ES256 as raw r‖s (64 bytes), not DER.
        case .es256(let key): try key.signature(for: data).rawRepresentation
        case .rs256(let key): try key.signature(for: data, padding: .insecurePKCS1v1_5).rawRepresentation
        }
        return signingInput + "." + Base64URL.encode(signature)
    }
}
