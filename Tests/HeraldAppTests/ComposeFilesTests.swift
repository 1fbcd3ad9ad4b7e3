import Foundation
@testable import HeraldApp
import HeraldPostgres
import MockVendors
import Testing
import XMPPComponent
import Yams

/// The compose files in deploy/compose, read as compose would read them (no container engine runs
/// here): each service they name exists, each file they mount is in the repository, every Herald
/// loads its configuration from what compose gives it, reaches the PostgreSQL the files define with
/// that server's user, database and password, and finds the mock vendors its configuration points at
/// in its own network namespace, so that stopping one Herald never cuts another off.
@Suite struct ComposeFilesTests {
    static let folder = ExampleKeys.root.deletingLastPathComponent().appendingPathComponent("deploy/compose")
    /// What `.env` would hold.
    static let environment = ["HERALD_COMPONENT_SECRET": "compose-component-secret", "HERALD_POSTGRES_PASSWORD": "compose-postgres-password"]

    struct Service {
        var name: String
        var fields: [String: Any]

        var environment: [String: String] {
            ((fields["environment"] as? [String: Any]) ?? [:]).mapValues { "\($0)" }
        }
        var command: [String] { (fields["command"] as? [Any])?.map { "\($0)" } ?? [] }
        var networkMode: String? { fields["network_mode"] as? String }
        var dependencies: [String] {
            if let map = fields["depends_on"] as? [String: Any] { return Array(map.keys) }
            return (fields["depends_on"] as? [Any])?.map { "\($0)" } ?? []
        }
        /// (source, target) of each volume entry.
        var mounts: [(source: String, target: String)] {
            ((fields["volumes"] as? [Any]) ?? []).compactMap { entry in
                let parts = "\(entry)".split(separator: ":").map(String.init)
                return parts.count >= 2 ? (parts[0], parts[1]) : nil
            }
        }
        var isHerald: Bool {
            ((fields["build"] as? [String: Any])?["dockerfile"] as? String) == "deploy/Dockerfile" && (command.isEmpty || command.first == "serve")
        }
    }

    /// The files merged as `docker compose -f A -f B` merges them: mappings key by key, lists appended.
    static func load(_ files: [String]) throws -> (services: [String: Service], volumes: Set<String>) {
        var merged: [String: Any] = [:]
        for file in files {
            let text = try String(contentsOf: folder.appendingPathComponent(file), encoding: .utf8)
            let parsed = try #require(try Yams.load(yaml: substituted(text)) as? [String: Any], "\(file) is a mapping")
            merged = merge(merged, parsed)
        }
        let services = ((merged["services"] as? [String: Any]) ?? [:]).map { name, fields in
            Service(name: name, fields: fields as? [String: Any] ?? [:])
        }
        return (Dictionary(uniqueKeysWithValues: services.map { ($0.name, $0) }), Set(((merged["volumes"] as? [String: Any]) ?? [:]).keys))
    }

    /// `${NAME}`, `${NAME:?message}` and `${NAME:-default}` replaced from `environment`; an unset name
    /// fails the test, as compose would refuse to start.
    static func substituted(_ text: String) throws -> String {
        let pattern = try NSRegularExpression(pattern: #"\$\{([A-Z0-9_]+)(?::?[?-][^}]*)?\}"#)
        var result = text
        for match in pattern.matches(in: text, range: NSRange(text.startIndex..., in: text)).reversed() {
            let name = String(text[Range(match.range(at: 1), in: text)!])
            let value = try #require(environment[name], "\(name) is used by a compose file but not set in the test's .env")
            result.replaceSubrange(Range(match.range, in: result)!, with: value)
        }
        return result
    }

    static func merge(_ base: [String: Any], _ overlay: [String: Any]) -> [String: Any] {
        base.merging(overlay) { old, new in
            if let old = old as? [String: Any], let new = new as? [String: Any] { return merge(old, new) }
            if let old = old as? [Any], let new = new as? [Any] { return old + new }
            return new
        }
    }

    static let variants = [["compose.yaml"], ["compose.yaml", "compose.postgres.yaml"]]

    @Test(arguments: variants)
    func everyServiceAndFileTheyNameExists(files: [String]) throws {
        let (services, volumes) = try Self.load(files)
        #expect(!services.isEmpty)
        for service in services.values {
            for dependency in service.dependencies {
                #expect(services[dependency] != nil, "\(service.name) depends on \(dependency), which is not defined")
            }
            if let mode = service.networkMode, mode.hasPrefix("service:") {
                #expect(services[String(mode.dropFirst("service:".count))] != nil, "\(service.name): network_mode \(mode)")
            }
            for mount in service.mounts {
                if mount.source.hasPrefix(".") || mount.source.hasPrefix("/") {
                    let path = Self.folder.appendingPathComponent(mount.source).standardizedFileURL.path
                    #expect(FileManager.default.fileExists(atPath: path), "\(service.name) mounts \(mount.source), which is not in the repository")
                } else {
                    #expect(volumes.contains(mount.source), "\(service.name) uses the volume \(mount.source), which is not declared")
                }
            }
            if let build = service.fields["build"] as? [String: Any] {
                let context = Self.folder.appendingPathComponent(build["context"] as? String ?? ".")
                let dockerfile = context.appendingPathComponent(build["dockerfile"] as? String ?? "Dockerfile").standardizedFileURL.path
                #expect(FileManager.default.fileExists(atPath: dockerfile), "\(service.name) builds \(dockerfile)")
            }
        }
        let published = services.values.flatMap { ($0.fields["ports"] as? [Any] ?? []).map { "\($0)".split(separator: ":").dropLast().joined(separator: ":") } }
        #expect(Set(published).count == published.count, "a host port is published twice: \(published)")
    }

    @Test(arguments: variants)
    func everyHeraldLoadsItsConfigurationAndFindsItsStoreAndItsVendors(files: [String]) throws {
        let (services, _) = try Self.load(files)
        let heralds = services.values.filter(\.isHerald)
        #expect(heralds.count == files.count, "one Herald per file: \(heralds.map(\.name))")
        for herald in heralds {
            let mount = try #require(herald.mounts.first { $0.target == "/etc/herald/herald.yaml" }, "\(herald.name) mounts a configuration")
            let yaml = try String(contentsOf: Self.folder.appendingPathComponent(mount.source), encoding: .utf8)
                .replacingOccurrences(of: "/etc/herald/keys", with: ExampleKeys.root.path)
            var tree = try ConfigTree(yaml: yaml)
            try tree.applyEnvironment(herald.environment)
            let configuration = try HeraldConfiguration(tree: tree)
            #expect(configuration.components.first?.secret == Self.environment["HERALD_COMPONENT_SECRET"], "\(herald.name) has the component secret")
            let xmppHost = try #require(configuration.components.first?.host)
            #expect(services[xmppHost] != nil, "\(herald.name) connects to \(xmppHost), a service of the files")

            if case .postgres(let settings) = configuration.storage {
                let database = try #require(services[settings.host], "\(herald.name)'s PostgreSQL host \(settings.host) is a service")
                #expect(database.environment["POSTGRES_USER"] == settings.user)
                #expect(database.environment["POSTGRES_DB"] == settings.database)
                #expect(database.environment["POSTGRES_PASSWORD"] == settings.password, "\(herald.name) has the server's password")
                #expect(herald.dependencies.contains(settings.host))
            } else {
                #expect(files == ["compose.yaml"], "\(herald.name) is on SQLite in a variant meant for PostgreSQL")
            }

            // Vendors at 127.0.0.1 (the mocks, which the example certificate names) must run in this
            // Herald's own namespace; a Herald in another's namespace would lose its network with it.
            #expect(herald.networkMode == nil, "\(herald.name) has a network namespace of its own")
            if yaml.contains("https://127.0.0.1:") {
                let mocks = services.values.filter { $0.command.first == "mock-vendor" && $0.networkMode == "service:\(herald.name)" }
                #expect(mocks.count == 1, "\(herald.name) points at mock vendors on 127.0.0.1; one must share its namespace")
            }
        }
    }
}
