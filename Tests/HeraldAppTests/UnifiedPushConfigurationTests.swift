import Foundation
import HeraldAdmin
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
        #expect(unifiedPush.server == .init(host: "127.0.0.1", port: 8481))
        #expect(unifiedPush.registrationLifetime == .seconds(86400))
        #expect(unifiedPush.rateLimit == 60)
        #expect(unifiedPush.allowedDomains(forComponent: "up.example.org") == ["example.org"], "the component's parent domain, as Prosody's module")
        let listed = try configuration("  public_url: https://up.example.org\n  secret: 0123456789abcdef0123\n  allowed_domains: [a.example, B.example]\n")
        #expect(listed.allowedDomains(forComponent: "up.example.org") == ["a.example", "b.example"])
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
