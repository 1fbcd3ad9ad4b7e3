import ArgumentParser
import Foundation
import HeraldApp
import HeraldCore
import HeraldSQLite

struct Registrations: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Inspect or remove registrations in the configured store.",
        discussion: "Tokens are shown only as fingerprints and secrets never, as in Herald's logs.",
        subcommands: [List.self, Show.self, Delete.self]
    )

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List registrations, ordered by node.")
        @OptionGroup var options: ConfigOptions
        @Option(help: "How many to list.") var limit = 50
        @Option(help: "List those after this node (for paging).") var after: String?

        func run() async throws {
            let store = try options.store()
            let registrations = try await store.list(after: after, limit: limit)
            print("node\tapp\tservice\tdialect\ttoken\tupdated")
            for registration in registrations {
                print([
                    registration.node, registration.app, registration.service.rawValue, registration.dialect.rawValue,
                    Redaction.fingerprint(registration.token), ISO8601DateFormatter().string(from: registration.updatedAt),
                ].joined(separator: "\t"))
            }
            print("(\(registrations.count) shown, \(try await store.count()) in all)")
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show one registration.")
        @OptionGroup var options: ConfigOptions
        @Argument(help: "The registration's node.") var node: String

        func run() async throws {
            guard let registration = try await options.store().registration(node: node) else {
                throw ValidationError("no registration with node \(node)")
            }
            let formatter = ISO8601DateFormatter()
            let fields: [(String, String?)] = [
                ("node", registration.node),
                ("app", registration.app),
                ("service", registration.service.rawValue),
                ("dialect", registration.dialect.rawValue),
                ("token", Redaction.fingerprint(registration.token) + " (fingerprint)"),
                ("voip token", registration.voipToken.map { Redaction.fingerprint($0) + " (fingerprint)" }),
                ("environment", registration.environment?.rawValue),
                ("account domain", registration.accountDomain),
                ("has secret", registration.secret == nil ? "no" : "yes"),
                ("created", formatter.string(from: registration.createdAt)),
                ("updated", formatter.string(from: registration.updatedAt)),
                ("last push", registration.lastPushAt.map(formatter.string)),
                ("last failure", registration.lastFailure),
            ]
            for (name, value) in fields { if let value { print("\(name): \(value)") } }
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete one registration; its server's next publish gets item-not-found.")
        @OptionGroup var options: ConfigOptions
        @Argument(help: "The registration's node.") var node: String

        func run() async throws {
            guard try await options.store().delete(node: node) else {
                throw ValidationError("no registration with node \(node)")
            }
            print("deleted \(node)")
        }
    }
}

extension ConfigOptions {
    /// The store named by the configuration (only `storage` needs to be valid for this).
    func store() throws -> SQLiteRegistrationStore {
        guard let path = try load().storage.sqlitePath else {
            throw ValidationError("herald registrations reads the SQLite store; on PostgreSQL use the admin API (/v1/registrations) or psql")
        }
        return try SQLiteRegistrationStore(path: path)
    }
}
