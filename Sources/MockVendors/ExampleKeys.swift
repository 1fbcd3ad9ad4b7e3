import Crypto
import Foundation

/// The fake credentials in `keys.example/`, found from the package root.
public enum ExampleKeys {
    public static let apnsKeyID = "FAKE000KEY"
    public static let apnsTeamID = "FAKETEAM01"

    public static var root: URL {
        var directory = URL(fileURLWithPath: #filePath)
        while directory.path != "/" {
            directory.deleteLastPathComponent()
            if FileManager.default.fileExists(atPath: directory.appendingPathComponent("Package.swift").path) { break }
        }
        return directory.appendingPathComponent("keys.example")
    }

    public static var apnsKeyPath: String { root.appendingPathComponent("apns/AuthKey_\(apnsKeyID).p8").path }
    /// A fake APNs push certificate (self-signed) for certificate authentication, as PEM and as .p12.
    public static var apnsCertificatePath: String { root.appendingPathComponent("apns/fake-push-certificate.pem").path }
    public static var apnsCertificateKeyPath: String { root.appendingPathComponent("apns/fake-push-certificate.key").path }
    public static var apnsPKCS12Path: String { root.appendingPathComponent("apns/fake-push-certificate.p12").path }
    public static let apnsPKCS12Password = "herald-example"
    public static var tlsCertificatePath: String { root.appendingPathComponent("tls/mock-vendor.crt").path }
    public static var tlsKeyPath: String { root.appendingPathComponent("tls/mock-vendor.key").path }

    public static var fcmServiceAccountPath: String { root.appendingPathComponent("fcm/service-account.json").path }
    public static var vapidKeyPath: String { root.appendingPathComponent("webpush/vapid-private.pem").path }

    public static func vapidKey() throws -> P256.Signing.PrivateKey {
        try P256.Signing.PrivateKey(pemRepresentation: String(contentsOfFile: vapidKeyPath, encoding: .utf8))
    }

    public static func apnsKey() throws -> P256.Signing.PrivateKey {
        try P256.Signing.PrivateKey(pemRepresentation: String(contentsOfFile: apnsKeyPath, encoding: .utf8))
    }

    /// Mock APNs credentials matching the example key.
    public static func mockAPNsCredentials() throws -> MockAPNsServer.Credentials {
        MockAPNsServer.Credentials(keyID: apnsKeyID, teamID: apnsTeamID, publicKey: try apnsKey().publicKey)
    }
}
