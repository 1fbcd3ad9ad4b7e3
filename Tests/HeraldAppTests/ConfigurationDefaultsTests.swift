import Foundation
import MockVendors
import Testing

@testable import HeraldApp

/// README.md's table of configuration keys, held to the defaults the code defines.
@Suite struct ConfigurationDefaultsTests {
    /// Every app vendor on, so that every key with a default is read.
    private static let everything = """
        components:
          - domain: push.example.com
            secret: s
        apps:
          - name: chat
            apns:
              topic: org.example.chat
              key_file: \(ExampleKeys.apnsKeyPath)
              key_id: \(ExampleKeys.apnsKeyID)
              team_id: \(ExampleKeys.apnsTeamID)
            fcm:
              service_account_file: \(ExampleKeys.fcmServiceAccountPath)
            webpush:
              vapid_private_key_file: \(ExampleKeys.vapidKeyPath)
              subject: mailto:ops@example.org
        admin:
          token: a-token-of-at-least-16-characters
        """

    /// (key, default) for each README table row whose default cell holds values in backticks; a cell
    /// listing several keys (`a.b`, `.c`) pairs them with its comma-separated values.
    static func readmeDefaults() throws -> [(key: String, value: String)] {
        let readme = try String(contentsOf: ExampleKeys.root.deletingLastPathComponent().appendingPathComponent("README.md"), encoding: .utf8)
        var rows: [(String, String)] = []
        for line in readme.split(separator: "\n") where line.hasPrefix("| `") {
            let cells = line.split(separator: "|", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
            guard cells.count >= 5 else { continue }
            let keys = cells[1].matches(of: /`([a-z_\[\]\.]+)`/).map { String($0.output.1) }
            guard let first = keys.first, first.contains(".") else { continue }
            let parent = first.split(separator: ".").dropLast().joined(separator: ".")
            let fullKeys = keys.map { $0.hasPrefix(".") ? parent + $0 : $0 }
            let values = cells[3].split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
            guard values.count == fullKeys.count else { continue }
            for (key, value) in zip(fullKeys, values) {
                guard let match = value.wholeMatch(of: /`([^`]+)`/) else { continue }
                rows.append((key, String(match.output.1)))
            }
        }
        return rows
    }

    @Test func everyDefaultInTheReadmeIsTheOneTheCodeUses() throws {
        var tree = try ConfigTree(yaml: Self.everything)
        try tree.applyEnvironment([:])
        let defaults = ConfigurationDefaults()
        _ = try defaults.collect { try HeraldConfiguration(tree: tree) }
        let seen = defaults.values
        let rows = try Self.readmeDefaults()
        var compared = 0
        for (key, value) in rows {
            // A default that names another key (`components[].host` defaults to `xmpp.host`) is a reference.
            if rows.contains(where: { $0.key == value }) { continue }
            guard let code = seen[key] else {
                Issue.record("README.md gives \(key) a default (\(value)) that the code never reads")
                continue
            }
            #expect(Self.same(code, value), "README.md: \(key) defaults to \(value); the code: \(code)")
            compared += 1
        }
        #expect(compared >= 40, "only \(compared) defaults compared")
    }

    /// Equal as text, or as durations (`60s` is `1m`), read the way the configuration reads them.
    static func same(_ code: String, _ readme: String) -> Bool {
        if code == readme { return true }
        func duration(_ text: String) -> Duration? {
            guard let tree = try? ConfigTree(yaml: "value: \(text)") else { return nil }
            return try? tree.section.duration("value", default: .zero)
        }
        guard let left = duration(code), let right = duration(readme) else { return false }
        return left == right
    }

    @Test func everyKeyTheCodeDefaultsIsInTheReadme() throws {
        var tree = try ConfigTree(yaml: Self.everything)
        try tree.applyEnvironment([:])
        let defaults = ConfigurationDefaults()
        _ = try defaults.collect { try HeraldConfiguration(tree: tree) }
        let readme = try String(contentsOf: ExampleKeys.root.deletingLastPathComponent().appendingPathComponent("README.md"), encoding: .utf8)
        for key in defaults.values.keys.sorted() {
            let name = key.split(separator: ".").last.map(String.init) ?? key
            #expect(readme.contains("`\(key)`") || readme.contains("`.\(name)`"), "README.md does not list \(key)")
        }
    }

    @Test func durationsAreWrittenAsAnOperatorWouldWriteThem() {
        #expect(ConfigurationDefaults.text(of: .seconds(86_400)) == "24h")
        #expect(ConfigurationDefaults.text(of: .seconds(300)) == "5m")
        #expect(ConfigurationDefaults.text(of: .seconds(25)) == "25s")
        #expect(ConfigurationDefaults.text(of: .milliseconds(1500)) == "1500ms")
        #expect(ConfigurationDefaults.text(of: .zero) == "0s")
        #expect(Self.same("1m", "60s"))
        #expect(!Self.same("1m", "61s"))
        #expect(!Self.same("true", "false"))
    }
}
