import Foundation
import MockVendors
import Testing
import Yams

@testable import HeraldApp

/// `deploy/herald.service` against `deploy/herald.example.yaml`: every secret file the example names
/// is a credential the unit hands over, under the environment variable that sets that key.
@Suite struct SystemdUnitTests {
    static let deploy = ExampleKeys.root.deletingLastPathComponent().appendingPathComponent("deploy")

    static func unitSettings() throws -> [(String, String)] {
        try String(contentsOf: deploy.appendingPathComponent("herald.service"), encoding: .utf8)
            .split(separator: "\n").compactMap { line in
                guard !line.hasPrefix("#"), let equals = line.firstIndex(of: "=") else { return nil }
                return (String(line[..<equals]), String(line[line.index(after: equals)...]))
            }
    }

    @Test func everySecretFileOfTheExampleIsACredentialOfTheUnit() throws {
        let settings = try Self.unitSettings()
        var credentials: [String: String] = [:]
        for (name, value) in settings where name == "LoadCredential" {
            let parts = value.split(separator: ":", maxSplits: 1).map(String.init)
            credentials[parts[0]] = parts.count > 1 ? parts[1] : ""
        }
        var environment: [String: String] = [:]
        for (name, value) in settings where name == "Environment" {
            let parts = value.split(separator: "=", maxSplits: 1).map(String.init)
            environment[parts[0]] = parts.count > 1 ? parts[1] : ""
        }
        let example = try String(contentsOf: Self.deploy.appendingPathComponent("herald.example.yaml"), encoding: .utf8)
        let files = KubernetesManifestsTests.fileKeys(try #require(try Yams.load(yaml: example)))
        #expect(files.count >= 6)
        for (key, _) in files {
            let variable = ConfigTree.environmentName(for: key)
            let value = try #require(environment[variable], "the unit does not set \(variable) for \(key)")
            #expect(value.hasPrefix("%d/"), "\(variable) points at a systemd credential")
            #expect(credentials[String(value.dropFirst(3))] != nil, "\(variable) names a credential the unit does not load")
        }
        #expect(credentials.count == files.count, "no credential without a key")
    }

    @Test func theUnitLimitsFilesAndPermissionsAndChecksBeforeStarting() throws {
        let settings = Dictionary(try Self.unitSettings(), uniquingKeysWith: { first, _ in first })
        #expect(settings["UMask"] == "0077")
        #expect(Int(settings["LimitNOFILE"] ?? "") ?? 0 >= 65536)
        #expect(settings["ExecStartPre"]?.contains("herald check --config /etc/herald/herald.yaml") == true)
        #expect(settings["ExecStart"]?.contains("herald serve --config /etc/herald/herald.yaml") == true)
        #expect(settings["ExecReload"] == "/bin/kill -HUP $MAINPID")
        // Longer than xmpp.drain_timeout's default (25 s), so a drain finishes before SIGKILL.
        #expect(Int(settings["TimeoutStopSec"] ?? "") ?? 0 > 25)
    }
}
