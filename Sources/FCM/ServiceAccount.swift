import CryptoExtras
import Foundation

/// A Google service-account key file, the fields FCM needs from it.
public struct ServiceAccount: Sendable {
    public var projectID: String
    public var privateKeyID: String
    public var clientEmail: String
    public var tokenURI: String
    public var privateKey: _RSA.Signing.PrivateKey

    public struct Invalid: Error, Sendable, CustomStringConvertible {
        public let description: String
    }

    public init(json: Data) throws {
        guard let object = try? JSONSerialization.jsonObject(with: json) as? [String: Any] else {
            throw Invalid(description: "is not JSON")
        }
        func field(_ name: String) throws -> String {
            guard let value = object[name] as? String, !value.isEmpty else { throw Invalid(description: "has no \(name)") }
            return value
        }
        guard (object["type"] as? String) == "service_account" else {
            throw Invalid(description: "is not a service-account key (type must be service_account)")
        }
        projectID = try field("project_id")
        privateKeyID = try field("private_key_id")
        clientEmail = try field("client_email")
        tokenURI = try field("token_uri")
        do {
            privateKey = try _RSA.Signing.PrivateKey(pemRepresentation: try field("private_key"))
        } catch let error as Invalid {
            throw error
        } catch {
            throw Invalid(description: "has a private_key that is not an RSA key of 2048 bits or more")
        }
    }
}
