import ArgumentParser
import Foundation
import HeraldCore
import HeraldPostgres
import HeraldSQLite
import Logging
import PostgresNIO

struct Store: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Move registrations between stores.",
        subcommands: [Migrate.self]
    )

    struct Migrate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Copy every registration and pending push from SQLite to PostgreSQL, then read each back.",
            discussion: """
                Idempotent: a registration already there is replaced by the copy, so running it again after \
                an interruption finishes the job. Stop Herald first, or registrations made meanwhile stay \
                behind in SQLite. Pending pushes arrive unheld, for whichever instance starts first.
                """
        )

        @Option(help: "The source, sqlite:PATH.") var from: String
        @Option(help: "The destination, postgres:URL (postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE).") var to: String

        func run() async throws {
            guard from.hasPrefix("sqlite:") else { throw ValidationError("--from must be sqlite:PATH") }
            guard to.hasPrefix("postgres:") else { throw ValidationError("--to must be postgres:URL") }
            let path = String(from.dropFirst("sqlite:".count))
            guard FileManager.default.fileExists(atPath: path) else { throw ValidationError("no SQLite database at \(path)") }
            let settings: PostgresSettings
            do {
                settings = try PostgresSettings(url: String(to.dropFirst("postgres:".count)))
            } catch {
                throw ValidationError("--to: \(error)")
            }
            let source = try SQLiteRegistrationStore(path: path)
            let logger = Logger(label: "herald.store")
            let client = PostgresClient(configuration: try settings.clientConfiguration(), backgroundLogger: logger)
            try await withThrowingDiscardingTaskGroup { group in
                group.addTask { await client.run() }
                defer { group.cancelAll() }
                let destination = PostgresRegistrationStore(client: client, logger: logger)
                try await destination.migrate()
                let (copied, verified) = try await copyRegistrations(from: source, to: destination)
                let (pending, pendingVerified) = try await copyPendingPushes(from: source, to: destination)
                print("registrations: \(copied) copied, \(verified) verified")
                print("pending pushes: \(pending) copied, \(pendingVerified) verified")
                print("to: \(settings.redactedDescription)")
                guard verified == copied, pendingVerified == pending else {
                    throw ValidationError("some rows did not read back as written; run the command again")
                }
            }
        }

        private func copyRegistrations(
            from source: SQLiteRegistrationStore, to destination: PostgresRegistrationStore
        ) async throws -> (copied: Int, verified: Int) {
            var copied = 0
            var verified = 0
            var after: String?
            while true {
                let page = try await source.list(after: after, limit: 1_000)
                guard let last = page.last else { break }
                try await destination.saveAll(page)
                for registration in page where try await destination.registration(node: registration.node).map({ Self.same($0, registration) }) == true {
                    verified += 1
                }
                copied += page.count
                after = last.node
            }
            return (copied, verified)
        }

        /// The same registration, its times equal to PostgreSQL's microsecond.
        private static func same(_ read: Registration, _ written: Registration) -> Bool {
            func close(_ x: Date?, _ y: Date?) -> Bool {
                switch (x, y) {
                case (nil, nil): true
                case let (x?, y?): abs(x.timeIntervalSince(y)) < 1e-5
                default: false
                }
            }
            guard close(read.createdAt, written.createdAt), close(read.updatedAt, written.updatedAt),
                close(read.lastPushAt, written.lastPushAt)
            else { return false }
            var read = read
            read.createdAt = written.createdAt
            read.updatedAt = written.updatedAt
            read.lastPushAt = written.lastPushAt
            return read == written
        }

        private func copyPendingPushes(
            from source: SQLiteRegistrationStore, to destination: PostgresRegistrationStore
        ) async throws -> (copied: Int, verified: Int) {
            let pushes = try await source.pendingPushes(limit: Int.max)
            let owner = "herald store migrate"
            for push in pushes { try await destination.savePending(push, owner: owner, leaseUntil: Date()) }
            try await destination.releasePendingClaims(owner: owner)
            let copied = Set(try await destination.pendingPushes(limit: Int.max).map(\.node))
            return (pushes.count, pushes.filter { copied.contains($0.node) }.count)
        }
    }
}
