import Foundation
import MockVendors
import Testing

@testable import HeraldApp

/// README.md's table of configuration keys, held to the defaults the code defines.
@Suite struct ConfigurationDefaultsTests {
    /// Every app vendor on, so that every key with a default is read: the configuration tests' app,
    /// with Web Push, stateless nodes, the admin API and UnifiedPush added.
    private static let everything = minimal + "\n" + chatWithAPNsAndFCM + """
            webpush:
              vapid_private_key_file: \(ExampleKeys.vapidKeyPath)
              subject: mailto:ops@example.org
            stateless:
              push_modules: [monalProdiOS]
        admin:
          token: a-token-of-at-least-16-characters
        unified_push:
          public_url: https://up.example.com
          secret: a-secret-of-at-least-16-characters
        storage:
          engine: postgres
        """

    /// Each README table row whose first cell names configuration keys: the keys in full (a cell
    /// listing `a.b`, `.c` means `a.b` and `a.c`) and the cells of the default column, split at commas.
    static func readmeRows() throws -> [(keys: [String], defaults: [String])] {
        let readme = try String(contentsOf: ExampleKeys.root.deletingLastPathComponent().appendingPathComponent("README.md"), encoding: .utf8)
        var rows: [(keys: [String], defaults: [String])] = []
        for line in readme.split(separator: "\n") where line.hasPrefix("| `") {
            let cells = line.split(separator: "|", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
            guard cells.count >= 5 else { continue }
            let keys = cells[1].matches(of: /`([a-z_\[\]\.]+)`/).map { String($0.output.1) }
            guard let first = keys.first, first.contains(".") else { continue }
            let parent = first.split(separator: ".").dropLast().joined(separator: ".")
            rows.append((keys.map { $0.hasPrefix(".") ? parent + $0 : $0 }, cells[3].split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }))
        }
        return rows
    }

    /// (key, default) for each key whose default README writes in backticks, paired with its cell.
    static func readmeDefaults() throws -> [(key: String, value: String)] {
        try readmeRows().flatMap { row -> [(key: String, value: String)] in
            guard row.defaults.count == row.keys.count else { return [] }
            return zip(row.keys, row.defaults).compactMap { key, value in
                value.wholeMatch(of: /`([^`]+)`/).map { (key, String($0.output.1)) }
            }
        }
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
        let listed = Set(try Self.readmeRows().flatMap(\.keys))
        for key in defaults.values.keys.sorted() {
            #expect(listed.contains(key), "README.md does not list \(key)")
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
