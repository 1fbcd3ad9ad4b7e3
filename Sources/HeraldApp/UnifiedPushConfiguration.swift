import Foundation
import HeraldAdmin
import NIOSSL

/// `unified_push`: Herald as a UnifiedPush provider for XMPP distributors (Conversations). Off unless the
/// section is there.
public struct UnifiedPushConfiguration: Sendable {
    /// The URL application servers reach the endpoint at (TLS terminated in front of Herald).
    public var publicURL: String
    /// Signs endpoint tokens; changing it invalidates every endpoint handed out.
    public var secret: String
    public var server: UnifiedPushServerConfiguration
    public var registrationLifetime: Duration
    /// Account domains whose users may register; nil: the parent domain of each component
    /// (`up.example.org` serves `example.org`), as Prosody's `mod_unified_push` does.
    public var allowedDomains: Set<String>?
    public var rateLimit: Int
    public var rateWindow: Duration

    init(section: ConfigSection) throws(ConfigurationError) {
        publicURL = try section.requiredString("public_url", fix: "the https URL application servers reach Herald's endpoint at, e.g. https://up.example.org")
        guard let url = URL(string: publicURL), url.scheme == "https" || url.scheme == "http", url.host != nil, url.query == nil else {
            throw ConfigurationError(key: section.path + ".public_url", problem: "is not an http(s) URL", fix: "e.g. https://up.example.org")
        }
        secret = try section.requiredString("secret", fix: "a long random value (or secret_file), e.g. from `openssl rand -base64 32`")
        guard secret.utf8.count >= 16 else {
            throw ConfigurationError(key: section.path + ".secret", problem: "is shorter than 16 characters", fix: "use a long random value, e.g. from `openssl rand -base64 32`")
        }
        server = UnifiedPushServerConfiguration(
            host: try section.string("host", default: "127.0.0.1"),
            port: try section.int("port", default: 8481, range: 0...65535),
            tls: try Self.tls(section)
        )
        registrationLifetime = try section.positiveDuration("registration_ttl", default: .seconds(86400))
        let domains = section.stringList("allowed_domains").map { $0.lowercased() }
        allowedDomains = domains.isEmpty ? nil : Set(domains)
        rateLimit = try section.int("rate_limit", default: 60, range: 1...1_000_000)
        rateWindow = try section.positiveDuration("rate_window", default: .seconds(60))
    }

    /// `tls_certificate_file` (PEM, the chain) and `tls_key_file`: both or neither.
    private static func tls(_ section: ConfigSection) throws(ConfigurationError) -> TLSConfiguration? {
        let certificatePath = try section.string("tls_certificate_file")
        let keyPath = try section.string("tls_key_file")
        switch (certificatePath, keyPath) {
        case (nil, nil):
            return nil
        case (let certificatePath?, let keyPath?):
            let chain: [NIOSSLCertificate]
            do {
                chain = try NIOSSLCertificate.fromPEMFile(certificatePath)
            } catch {
                throw ConfigurationError(key: section.path + ".tls_certificate_file", problem: "cannot read a PEM certificate from \(certificatePath)", fix: "check the path and that it holds the certificate chain")
            }
            let key: NIOSSLPrivateKey
            do {
                key = try NIOSSLPrivateKey(file: keyPath, format: .pem)
            } catch {
                throw ConfigurationError(key: section.path + ".tls_key_file", problem: "cannot read a PEM private key from \(keyPath)", fix: "check the path and its permissions")
            }
            guard !chain.isEmpty else {
                throw ConfigurationError(key: section.path + ".tls_certificate_file", problem: "holds no certificate", fix: "put the certificate chain there, leaf first")
            }
            guard CertificateKeyPair.matches(chain: chain, key: key) else {
                throw ConfigurationError(
                    key: section.path + ".tls_key_file", problem: "is not the private key of the certificate in tls_certificate_file",
                    fix: "the key the certificate was issued for, or that key's certificate (leaf first in the chain)"
                )
            }
            return TLSConfiguration.makeServerConfiguration(certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(key))
        default:
            throw ConfigurationError(key: section.path + (certificatePath == nil ? ".tls_certificate_file" : ".tls_key_file"), problem: "is missing", fix: "give both tls_certificate_file and tls_key_file, or neither")
        }
    }

    /// The account domains a component's users register from.
    func allowedDomains(forComponent domain: String) -> Set<String> {
        if let allowedDomains { return allowedDomains }
        guard let dot = domain.firstIndex(of: ".") else { return [domain] }
        return [String(domain[domain.index(after: dot)...])]
    }
}
