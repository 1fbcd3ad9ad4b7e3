import ArgumentParser
import Foundation
import HeraldApp
import Logging

@main
struct Herald: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "herald",
        abstract: "An XMPP push app server: XEP-0357 publishes in, APNs / FCM / Web Push out.",
        subcommands: [Serve.self, Check.self, Registrations.self, MockVendor.self, Keys.self],
        defaultSubcommand: Serve.self
    )
}

struct ConfigOptions: ParsableArguments {
    @Option(name: .shortAndLong, help: "The YAML configuration file. Every key can also be set as a HERALD_* environment variable.")
    var config: String?

    func load() throws -> HeraldConfiguration {
        do {
            return try HeraldConfiguration.load(path: config)
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
        let application = try HeraldApplication(configuration: configuration, logger: Logger(label: "herald"))
        try await application.run()
    }
}

struct Check: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Validate the configuration and exit non-zero with the key to fix.")

    @OptionGroup var options: ConfigOptions

    func run() throws {
        let configuration = try options.load()
        print("configuration OK: \(configuration.components.count) component(s): \(configuration.components.map(\.domain).joined(separator: ", "))")
    }
}
