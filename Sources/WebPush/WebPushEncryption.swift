import Crypto
import Foundation

/// RFC 8291 message encryption with the `aes128gcm` content coding (RFC 8188): one record, a fresh
/// ephemeral key pair and salt for every message.
public enum WebPushEncryption {
    public struct InvalidSubscription: Error, Sendable, CustomStringConvertible {
        public let description: String
    }

    static let recordSize: UInt32 = 4096
    /// The most plaintext one record of `recordSize` holds (RFC 8291 §4).
    public static let maximumPlaintextBytes = 3993

    /// Encrypts `plaintext` for the subscription keys (`p256dh`: the 65-byte uncompressed point,
    /// `auth`: 16 bytes). `salt` and `ephemeralKey` are for tests; leave them out in production.
    public static func encrypt(
        _ plaintext: Data,
        p256dh: Data,
        auth: Data,
        salt: Data? = nil,
        ephemeralKey: P256.KeyAgreement.PrivateKey? = nil
    ) throws -> Data {
        guard plaintext.count <= maximumPlaintextBytes else { throw InvalidSubscription(description: "plaintext too large") }
        guard auth.count == 16 else { throw InvalidSubscription(description: "auth secret is not 16 bytes") }
        let userAgentKey: P256.KeyAgreement.PublicKey
        do {
            userAgentKey = try P256.KeyAgreement.PublicKey(x963Representation: p256dh)
        } catch {
            throw InvalidSubscription(description: "p256dh is not a P-256 public key")
        }
        let ephemeral = ephemeralKey ?? P256.KeyAgreement.PrivateKey()
        let salt = salt ?? Data((0..<16).map { _ in UInt8.random(in: .min ... .max) })
        let serverPublic = ephemeral.publicKey.x963Representation
        let shared = try ephemeral.sharedSecretFromKeyAgreement(with: userAgentKey)
        let ecdh = shared.withUnsafeBytes { Data($0) }

        // IKM = HMAC(HMAC(auth, ecdh), "WebPush: info" ‖ 0 ‖ ua_public ‖ as_public ‖ 1)
        let keyInfo = Data("WebPush: info".utf8) + [0] + p256dh + serverPublic + [1]
        let prkKey = hmac(key: auth, ecdh)
        let ikm = hmac(key: prkKey, keyInfo)
        let prk = hmac(key: salt, ikm)
        let contentKey = hmac(key: prk, Data("Content-Encoding: aes128gcm".utf8) + [0, 1]).prefix(16)
        let nonce = hmac(key: prk, Data("Content-Encoding: nonce".utf8) + [0, 1]).prefix(12)

        // The last (and only) record ends with the 0x02 delimiter.
        let sealed = try AES.GCM.seal(plaintext + [2], using: SymmetricKey(data: contentKey), nonce: AES.GCM.Nonce(data: nonce))
        var body = Data()
        body.append(salt)
        withUnsafeBytes(of: recordSize.bigEndian) { body.append(contentsOf: $0) }
        body.append(UInt8(serverPublic.count))
        body.append(serverPublic)
        body.append(sealed.ciphertext)
        body.append(sealed.tag)
        return body
    }

    private static func hmac(key: Data, _ data: Data) -> Data {
        Data(HMAC<SHA256>.authenticationCode(for: data, using: SymmetricKey(data: key)))
    }
}
