import ArgumentParser
import Foundation
import HeraldAdmin
import HeraldApp
import HeraldBuildInfo
import HeraldCore
import Logging
import XMPPComponent

@main
struct Herald: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "herald",
        abstract: "An XMPP push app server: XEP-0357 publishes in, APNs / FCM / Web Push out.",
        version: BuildInfo.current.versionText,
        subcommands: [Serve.self, Check.self, Registrations.self, Store.self, PushTest.self, Health.self, MockVendor.self, Keys.self],
        defaultSubcommand: Serve.self
    )
}

struct ConfigOptions: ParsableArguments {
    @Option(name: .shortAndLong, help: "The YAML configuration file. Every key can also be set as a HERALD_* environment variable.")
    var config: String?

    @Option(name: .customLong("set"), help: ArgumentHelp(
        "Set a configuration key, over the file and the environment (repeatable).",
        valueName: "key=value"
    ))
    var settings: [String] = []

    @Option(help: "The log level (log.level): trace, debug, info, notice, warning, error, critical.")
    var logLevel: String?

    @Option(help: "The SQLite database file (storage.path).")
    var database: String?

    @Option(help: "The admin server's port (admin.port).")
    var adminPort: Int?

    /// Flags as configuration keys; they win over the file and the environment.
    var overrides: [(key: String, value: String)] {
        get throws {
            var overrides: [(key: String, value: String)] = []
            for setting in settings {
                let parts = setting.split(separator: "=", maxSplits: 1)
                guard parts.count == 2, !parts[0].isEmpty else {
                    throw ValidationError("--set takes key=value, e.g. --set admin.port=9000; got '\(setting)'")
                }
                overrides.append((String(parts[0]), String(parts[1])))
            }
            if let logLevel { overrides.append(("log.level", logLevel)) }
            if let database { overrides.append(("storage.path", database)) }
            if let adminPort { overrides.append(("admin.port", String(adminPort))) }
            return overrides
        }
    }

    func load() throws -> HeraldConfiguration {
        let overrides = try overrides
        do {
            return try HeraldConfiguration.load(path: config, overrides: overrides)
        } catch {
            FileHandle.standardError.write(Data("herald: configuration error: \(error)\n".utf8))
            throw ExitCode(78)  // EX_CONFIG
        }
    }
}

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Connect to the XMPP server(s) and serve push requests until stopped.")

    @OptionGroup var options: ConfigOptions

    func run() async throws {
        let configuration = try options.load()
        LoggingSystem.bootstrap { label in
            switch configuration.logFormat {
            case .json:
                var handler = JSONLogHandler(label: label)
                handler.logLevel = configuration.logLevel
                return handler
            case .text:
                var handler = StreamLogHandler.standardError(label: label)
                handler.logLevel = configuration.logLevel
                return handler
            }
        }
        let path = options.config
        let overrides = try options.overrides
        let application = try HeraldApplication(
            configuration: configuration,
            logger: Logger(label: "herald"),
            reloadConfiguration: { try HeraldConfiguration.load(path: path, overrides: overrides) }
        )
        do {
            try await application.run()
        } catch {
            // Through the log handler, so a JSON log stays JSON to its last line.
            Logger(label: "herald").critical("herald stopped on an error", metadata: [LogKey.reason: "\(error)"])
            throw ExitCode.failure
        }
    }
}

struct Check: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Validate the configuration and exit non-zero with the key to fix.",
        discussion: """
            Run it before a reload or restart: an admin or UnifiedPush port held by the Herald running now \
            (its /health answers) is fine, since that Herald gives it up when it stops.
            """
    )

    @OptionGroup var options: ConfigOptions
    @Flag(help: "Do not check that the admin and UnifiedPush ports are free.")
    var skipPortCheck = false

    func run() async throws {
        let configuration = try options.load()
        if !skipPortCheck {
            var listeners: [(key: String, variable: String, host: String, port: Int)] = []
            if let admin = configuration.admin { listeners.append(("admin.port", "HERALD_ADMIN__PORT", admin.host, admin.port)) }
            if let unifiedPush = configuration.unifiedPush {
                listeners.append(("unified_push.port", "HERALD_UNIFIED_PUSH__PORT", unifiedPush.server.host, unifiedPush.server.port))
            }
            for listener in listeners where listener.port != 0 && !PortProbe.isFree(host: listener.host, port: listener.port) {
                // A port the running Herald holds is given up when it stops: its /health tells it is Herald.
                guard await (try? AdminClient(configuration: configuration))?.heraldAnswers() == true else {
                    FileHandle.standardError.write(Data("herald: configuration error: \(listener.key): \(listener.host):\(listener.port) is in use by something other than Herald (stop what listens there, set \(listener.key) / \(listener.variable) to a free port, or pass --skip-port-check)\n".utf8))
                    throw ExitCode(78)
                }
                print("\(listener.key): \(listener.host):\(listener.port) is held by the running Herald (its /health answers)")
            }
        }
        let storageDirectory = URL(fileURLWithPath: configuration.databasePath).deletingLastPathComponent()
        guard StorageProbe.canCreateFiles(in: storageDirectory) else {
            FileHandle.standardError.write(Data("herald: configuration error: storage.path: cannot create the database in \(storageDirectory.path) (give Herald's user write access there, or point storage.path elsewhere)\n".utf8))
            throw ExitCode(78)
        }
        print("configuration OK: \(configuration.components.count) component(s): \(configuration.components.map(\.domain).joined(separator: ", "))")
    }
}

/// Whether the database can be created where configured (for `check`), found by trying: permission
/// bits do not tell for root or for special file systems. serve creates missing folders, so this does
/// too, and removes what it created.
enum StorageProbe {
    static func canCreateFiles(in directory: URL) -> Bool {
        let files = FileManager.default
        var missing: [URL] = []
        var existing = directory
        while !files.fileExists(atPath: existing.path), existing.path != "/" {
            missing.append(existing)
            existing.deleteLastPathComponent()
        }
        defer { for folder in missing { try? files.removeItem(at: folder) } }
        guard (try? files.createDirectory(at: directory, withIntermediateDirectories: true)) != nil else { return false }
        let probe = directory.appendingPathComponent(".herald-check-\(UUID().uuidString)")
        guard files.createFile(atPath: probe.path, contents: Data()) else { return false }
        try? files.removeItem(at: probe)
        return true
    }
}
