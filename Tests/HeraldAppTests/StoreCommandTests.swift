import Foundation
import HeraldCore
import HeraldHarness
import HeraldSQLite
import HeraldTesting
import Testing

/// `herald store migrate` from a real SQLite file into a real PostgreSQL, run as the operator would.
@Suite(.enabled(if: PostgresServer.isInstalled, "PostgreSQL is not installed"))
struct StoreCommandTests {
    @Test func migrateCopiesRegistrationsAndPendingPushesVerifiesThemAndCanRunAgain() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("herald-migrate-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        let database = directory.appendingPathComponent("herald.sqlite").path
        let store = try SQLiteRegistrationStore(path: database)
        let created = Date(timeIntervalSince1970: 1_790_000_000.123456)
        func registration(_ index: Int) -> Registration {
            let even = index % 2 == 0
            let service: PushVendor = even ? .apns : .fcm
            let environment: APNsEnvironment? = even ? .production : nil
            let lastPush: Date? = index % 3 == 0 ? created : nil
            let failure: String? = index % 5 == 0 ? "BadDeviceToken" : nil
            return Registration(
                node: "node-\(index)", secret: "secret-\(index)", app: "chat", service: service, dialect: .p2,
                token: "token-\(index)", environment: environment, accountDomain: "example.org",
                accountKey: "account-\(index % 100)", deviceKey: "device-\(index)", createdAt: created.addingTimeInterval(Double(index)),
                lastPushAt: lastPush, lastFailure: failure
            )
        }
        let registrations = (0..<2_500).map(registration)
        for registration in registrations { try await store.save(registration) }
        let pending = PendingPush(
            node: "node-7", publish: Publish(node: "node-7", publisherDomain: "example.org"), pushClass: .alert, attempt: 2,
            notBefore: created, deadline: created.addingTimeInterval(300)
        )
        try await store.savePending(pending, owner: "local", leaseUntil: created)

        let postgres = try await PostgresServer.shared()
        let name = try await postgres.makeDatabase()
        func migrate() async throws -> (Int32, String) {
            let log = directory.appendingPathComponent("out-\(UUID().uuidString)").path
            let child = try ChildProcess(
                path: HeraldBinary.path, arguments: ["store", "migrate", "--from", "sqlite:\(database)", "--to", "postgres:\(postgres.url(database: name))"],
                logPath: log
            )
            defer { child.terminate() }
            let status = await child.waitForExit(timeout: .seconds(60)) ?? -1
            return (status, (try? String(contentsOfFile: log, encoding: .utf8)) ?? "")
        }
        for run in 1...2 {
            let (status, output) = try await migrate()
            #expect(status == 0, "run \(run): \(output)")
            #expect(output.contains("registrations: 2500 copied, 2500 verified"), "run \(run): \(output)")
            #expect(output.contains("pending pushes: 1 copied, 1 verified"), "run \(run): \(output)")
        }
        #expect(try await postgres.psql("SELECT count(*) FROM registration", database: name) == "2500")
        #expect(try await postgres.psql("SELECT registrations FROM registration_total", database: name) == "2500", "the counts kept by triggers")
        #expect(try await postgres.psql("SELECT node || ' ' || coalesce(claimed_by, 'unheld') FROM pending_push", database: name) == "node-7 unheld")
        #expect(try await postgres.psql("SELECT secret FROM registration WHERE node = 'node-42'", database: name) == "secret-42")

        let (status, output) = try await {
            let log = directory.appendingPathComponent("bad").path
            let child = try ChildProcess(path: HeraldBinary.path, arguments: ["store", "migrate", "--from", "sqlite:/nonexistent", "--to", "postgres:x"], logPath: log)
            return (await child.waitForExit(timeout: .seconds(30)) ?? -1, (try? String(contentsOfFile: log, encoding: .utf8)) ?? "")
        }()
        #expect(status != 0)
        #expect(output.contains("no SQLite database at /nonexistent"), "\(output)")
    }
}
