import APNs
import Crypto
import FCM
import Foundation
import HeraldCore
import HeraldSupport
import NIOSSL
import WebPush

/// `apps[].apns`: the bundle id, and token (`.p8`) or certificate credentials.
public struct APNsAppConfiguration: Sendable {
    public enum Credentials: Sendable {
        case token(key: P256.Signing.PrivateKey, keyID: String, teamID: String)
        case certificate
    }

    public var provider: APNsProvider.Configuration
    public var credentials: Credentials

    init(section: ConfigSection) throws(ConfigurationError) {
        let topic = try section.requiredString("topic", fix: "the app's bundle id, e.g. org.example.chat")
        var configuration = APNsProvider.Configuration(
            topic: topic,
            productionURL: try section.string("production_url", default: "https://api.push.apple.com"),
            sandboxURL: try section.string("sandbox_url", default: "https://api.sandbox.push.apple.com"),
            connectionsPerHost: try section.int("connections", default: 2, range: 1...64),
            requestTimeout: try section.positiveDuration("request_timeout", default: .seconds(10)),
            trustRootsFile: try section.string("ca_file")
        )
        for (key, url) in [("production_url", configuration.productionURL), ("sandbox_url", configuration.sandboxURL)] {
            guard let components = URLComponents(string: url), components.scheme == "https", components.host?.isEmpty == false else {
                throw ConfigurationError(key: section.path + "." + key, problem: "'\(url)' is not an https URL")
            }
        }
        if let caFile = configuration.trustRootsFile { try Self.readable(caFile, key: section.path + ".ca_file") }

        if section.contains("key") {
            let pem = try section.requiredString("key")
            let key: P256.Signing.PrivateKey
            do {
                key = try P256.Signing.PrivateKey(pemRepresentation: pem)
            } catch {
                throw ConfigurationError(
                    key: section.path + (section.contains("key_file") ? ".key_file" : ".key"),
                    problem: "is not an APNs authentication key (a PKCS#8 EC P-256 .p8 file)",
                    fix: "download AuthKey_<KEYID>.p8 from the Apple Developer account, Keys"
                )
            }
            credentials = .token(
                key: key,
                keyID: try Self.appleID(section, "key_id", what: "the 10-character Key ID shown next to the key"),
                teamID: try Self.appleID(section, "team_id", what: "the 10-character Team ID of the developer account")
            )
        } else if let p12 = try section.string("p12_file") {
            try Self.readable(p12, key: section.path + ".p12_file")
            configuration.pkcs12File = p12
            configuration.pkcs12Password = try section.string("p12_password")
            do {
                _ = try NIOSSLPKCS12Bundle(file: p12, passphrase: Array((configuration.pkcs12Password ?? "").utf8))
            } catch {
                throw ConfigurationError(
                    key: section.path + ".p12_file",
                    problem: "is not a PKCS#12 bundle that p12_password opens",
                    fix: "export the push certificate with its private key from Keychain Access as .p12, and set p12_password"
                )
            }
            credentials = .certificate
        } else if let certificate = try section.string("certificate_file") {
            try Self.readable(certificate, key: section.path + ".certificate_file")
            let privateKey = try section.requiredString("private_key_file", fix: "the PEM key of the push certificate")
            try Self.readable(privateKey, key: section.path + ".private_key_file")
            configuration.certificateFile = certificate
            configuration.privateKeyFile = privateKey
            guard let chain = try? NIOSSLCertificate.fromPEMFile(certificate), !chain.isEmpty else {
                throw ConfigurationError(
                    key: section.path + ".certificate_file",
                    problem: "holds no PEM certificate",
                    fix: "the push certificate from the Apple Developer account, converted with `openssl x509 -inform der -in aps.cer -out aps.pem`"
                )
            }
            guard let key = try? NIOSSLPrivateKey(file: privateKey, format: .pem) else {
                throw ConfigurationError(
                    key: section.path + ".private_key_file",
                    problem: "holds no PEM private key",
                    fix: "the key the certificate signing request was made with, in PEM without a passphrase"
                )
            }
            guard CertificateKeyPair.matches(chain: chain, key: key) else {
                throw ConfigurationError(
                    key: section.path + ".private_key_file",
                    problem: "is not the private key of the certificate in certificate_file",
                    fix: "the key the certificate signing request was made with, or the certificate issued for this key"
                )
            }
            credentials = .certificate
        } else {
            throw ConfigurationError(
                key: section.path + ".key_file",
                problem: "no APNs credentials",
                fix: "set key_file with key_id and team_id (token auth), or certificate_file and private_key_file, or p12_file"
            )
        }
        provider = configuration
    }

    private static func appleID(_ section: ConfigSection, _ name: String, what: String) throws(ConfigurationError) -> String {
        let value = try section.requiredString(name, fix: what)
        guard value.count == 10, value.allSatisfy({ ($0.isUppercase || $0.isNumber) && $0.isASCII }) else {
            throw ConfigurationError(key: section.path + "." + name, problem: "'\(value)' is not 10 capital letters or digits", fix: what)
        }
        return value
    }

    static func readable(_ path: String, key: String) throws(ConfigurationError) {
        guard FileManager.default.isReadableFile(atPath: path) else {
            throw ConfigurationError(key: key, problem: "cannot read \(path)", fix: "check the path and its permissions")
        }
    }
}

extension ContentPolicy {
    /// `apps[].content`: what pushes may carry. Nothing personal unless asked for.
    init(section: ConfigSection) throws(ConfigurationError) {
        self.init(
            forwardBody: try section.bool("forward_body", default: false),
            forwardSender: try section.bool("forward_sender", default: false),
            alertTitle: try section.string("alert_title", default: "New message"),
            timeToLive: Int(try section.duration("ttl", default: .seconds(86_400)).components.seconds),
            collapse: try section.bool("collapse", default: true)
        )
    }
}

extension DeliveryPolicy {
    /// `delivery`: bursts, retries and the retry queue.
    init(section: ConfigSection) throws(ConfigurationError) {
        let initial = try section.duration("retry_initial_delay", default: .seconds(1))
        let maximum = try section.duration("retry_max_delay", default: .seconds(60))
        guard initial > .zero, maximum >= initial else {
            throw ConfigurationError(key: section.path + ".retry_max_delay", problem: "must be at least retry_initial_delay, which must be above zero")
        }
        self.init(
            coalescingWindow: try section.duration("coalescing_window", default: .seconds(1)),
            retryBackoff: Backoff(initialDelay: initial, maximumDelay: maximum),
            maximumAttempts: try section.int("max_attempts", default: 6, range: 1...100),
            retryDeadline: try section.duration("retry_deadline", default: .seconds(300)),
            maximumQueuedPushes: try section.int("max_queued", default: 10_000, range: 1...10_000_000),
            maximumHeldReplies: try section.int("max_held_replies", default: 10_000, range: 1...1_000_000),
            pendingLease: try section.positiveDuration("pending_lease", default: .seconds(30))
        )
    }
}

/// `apps[].fcm`: the service-account key and where to send.
public struct FCMAppConfiguration: Sendable {
    public var account: ServiceAccount
    public var provider: FCMProvider.Configuration

    init(section: ConfigSection) throws(ConfigurationError) {
        let json = try section.requiredString(
            "service_account",
            fix: "set service_account_file to the JSON key from the Firebase console, Project settings, Service accounts"
        )
        do {
            account = try ServiceAccount(json: Data(json.utf8))
        } catch {
            throw ConfigurationError(
                key: section.path + (section.contains("service_account_file") ? ".service_account_file" : ".service_account"),
                problem: "\(error)",
                fix: "use the JSON key file downloaded from the Firebase console"
            )
        }
        provider = FCMProvider.Configuration(
            endpoint: try section.string("endpoint", default: "https://fcm.googleapis.com"),
            tokenURI: try section.string("token_uri"),
            projectID: try section.string("project_id"),
            connections: try section.int("connections", default: 2, range: 1...64),
            requestTimeout: try section.positiveDuration("request_timeout", default: .seconds(10)),
            trustRootsFile: try section.string("ca_file"),
            notification: try section.bool("notification", default: false)
        )
        if let caFile = provider.trustRootsFile { try APNsAppConfiguration.readable(caFile, key: section.path + ".ca_file") }
    }
}

/// `apps[].webpush`: the VAPID key and contact.
public struct WebPushAppConfiguration: Sendable {
    public var vapidKey: P256.Signing.PrivateKey
    public var subject: String
    public var provider: WebPushProvider.Configuration

    init(section: ConfigSection) throws(ConfigurationError) {
        let pem = try section.requiredString("vapid_private_key", fix: "set vapid_private_key_file; `herald keys generate-vapid` makes one")
        do {
            vapidKey = try P256.Signing.PrivateKey(pemRepresentation: pem)
        } catch {
            throw ConfigurationError(
                key: section.path + (section.contains("vapid_private_key_file") ? ".vapid_private_key_file" : ".vapid_private_key"),
                problem: "is not a P-256 private key in PEM",
                fix: "`herald keys generate-vapid` makes one"
            )
        }
        subject = try section.requiredString("subject", fix: "a contact for push services, e.g. mailto:ops@example.org")
        guard subject.hasPrefix("mailto:") || subject.hasPrefix("https://") else {
            throw ConfigurationError(key: section.path + ".subject", problem: "must start with mailto: or https:", fix: "e.g. mailto:ops@example.org")
        }
        provider = WebPushProvider.Configuration(
            requestTimeout: try section.positiveDuration("request_timeout", default: .seconds(10)),
            trustRootsFile: try section.string("ca_file"),
            allowPrivateEndpoints: try section.bool("allow_private_endpoints", default: false)
        )
        if let caFile = provider.trustRootsFile { try APNsAppConfiguration.readable(caFile, key: section.path + ".ca_file") }
    }
}
