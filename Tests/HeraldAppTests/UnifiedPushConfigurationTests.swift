import Foundation
import HeraldAdmin
import MockVendors
import Testing

@testable import HeraldApp

@Suite struct UnifiedPushConfigurationTests {
    private func configuration(_ yaml: String) throws -> UnifiedPushConfiguration {
        var tree = try ConfigTree(yaml: "components:\n  - domain: up.example.org\n    secret: s\nunified_push:\n" + yaml)
        try tree.applyEnvironment([:])
        return try #require(try HeraldConfiguration(tree: tree).unifiedPush)
    }

    private func problem(_ yaml: String) -> String? {
        do {
            _ = try configuration(yaml)
            return nil
        } catch let error as ConfigurationError {
            return error.key
        } catch {
            return "\(error)"
        }
    }

    @Test func offWithoutTheSectionAndDefaultsWithIt() throws {
        var tree = try ConfigTree(yaml: "components:\n  - domain: up.example.org\n    secret: s\n")
        try tree.applyEnvironment([:])
        #expect(try HeraldConfiguration(tree: tree).unifiedPush == nil)
        let unifiedPush = try configuration("  public_url: https://up.example.org\n  secret: 0123456789abcdef0123\n")
        #expect(unifiedPush.server.host == "127.0.0.1")
        #expect(unifiedPush.server.port == 8481)
        #expect(unifiedPush.server.tls == nil, "plain HTTP behind a proxy unless a certificate is given")
        #expect(unifiedPush.registrationLifetime == .seconds(86400))
        #expect(unifiedPush.rateLimit == 60)
        #expect(unifiedPush.allowedDomains(forComponent: "up.example.org") == ["example.org"], "the component's parent domain, as Prosody's module")
        let listed = try configuration("  public_url: https://up.example.org\n  secret: 0123456789abcdef0123\n  allowed_domains: [a.example, B.example]\n")
        #expect(listed.allowedDomains(forComponent: "up.example.org") == ["a.example", "b.example"])
    }

    @Test func aCertificateAndKeyMakeItServeTLS() throws {
        let unifiedPush = try configuration(
            "  public_url: https://127.0.0.1\n  secret: 0123456789abcdef0123\n"
                + "  tls_certificate_file: \(ExampleKeys.tlsCertificatePath)\n  tls_key_file: \(ExampleKeys.tlsKeyPath)\n"
        )
        #expect(unifiedPush.server.tls != nil)
    }

    @Test(arguments: [
        ("  tls_certificate_file: \(ExampleKeys.tlsCertificatePath)\n", "unified_push.tls_key_file"),
        ("  tls_key_file: \(ExampleKeys.tlsKeyPath)\n", "unified_push.tls_certificate_file"),
        ("  tls_certificate_file: /nonexistent.pem\n  tls_key_file: \(ExampleKeys.tlsKeyPath)\n", "unified_push.tls_certificate_file"),
        ("  tls_certificate_file: \(ExampleKeys.tlsCertificatePath)\n  tls_key_file: \(ExampleKeys.tlsCertificatePath)\n", "unified_push.tls_key_file"),
        ("  tls_certificate_file: \(ExampleKeys.tlsCertificatePath)\n  tls_key_file: \(ExampleKeys.apnsCertificateKeyPath)\n", "unified_push.tls_key_file"),
    ])
    func aHalfOrUnreadableTLSPairIsNamed(yaml: String, key: String) {
        #expect(problem("  public_url: https://127.0.0.1\n  secret: 0123456789abcdef0123\n" + yaml) == key)
    }

    @Test(arguments: [
        ("  secret: 0123456789abcdef0123\n", "unified_push.public_url"),
        ("  public_url: ftp://up.example.org\n  secret: 0123456789abcdef0123\n", "unified_push.public_url"),
        ("  public_url: https://up.example.org\n", "unified_push.secret"),
        ("  public_url: https://up.example.org\n  secret: short\n", "unified_push.secret"),
        ("  public_url: https://up.example.org\n  secret: 0123456789abcdef0123\n  registration_ttl: 0s\n", "unified_push.registration_ttl"),
    ])
    func aMissingOrBadKeyIsNamed(yaml: String, key: String) {
        #expect(problem(yaml) == key)
    }
}
