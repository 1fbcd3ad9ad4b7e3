import Foundation
import HeraldCore
import HeraldHarness
import HeraldSQLite
import HeraldTesting
import Logging
import Synchronization
import Testing

@testable import HeraldApp

final class LineSink: Sendable {
    private let lines = Mutex<[String]>([])
    func append(_ line: String) { lines.withLock { $0.append(line) } }
    var all: [String] { lines.withLock { $0 } }
}

/// `herald registrations …` against a real database, run as the operator would.
@Suite struct RegistrationsCommandTests {
    @Test func listsShowsAndDeletesWithoutRevealingTokensOrSecrets() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("herald-cli-\(UUID().uuidString)")
        let database = directory.appendingPathComponent("herald.sqlite").path
        let store = try SQLiteRegistrationStore(path: database)
        let token = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
        try await store.save(Registration(
            node: "node-one", secret: "very-secret-value", app: "chat", service: .apns, dialect: .p2, token: token,
            environment: .production, accountDomain: "example.org", deviceKey: "d1", createdAt: Date()
        ))
        let environment = [
            "HERALD_COMPONENTS__0__DOMAIN": "push.example.com", "HERALD_COMPONENTS__0__SECRET": "x", "HERALD_STORAGE__PATH": database,
        ]
        func herald(_ arguments: [String]) async throws -> (Int32, String) {
            let log = directory.appendingPathComponent("out-\(UUID().uuidString)").path
            let child = try ChildProcess(path: HeraldBinary.path, arguments: arguments, environment: environment, logPath: log)
            defer { child.terminate() }
            let status = await child.waitForExit(timeout: .seconds(30)) ?? -1
            return (status, (try? String(contentsOfFile: log, encoding: .utf8)) ?? "")
        }
        let (listStatus, list) = try await herald(["registrations", "list"])
        #expect(listStatus == 0, "\(list)")
        #expect(list.contains("node-one"))
        #expect(list.contains(Redaction.fingerprint(token)))
        let (showStatus, show) = try await herald(["registrations", "show", "node-one"])
        #expect(showStatus == 0, "\(show)")
        #expect(show.contains("account domain: example.org"))
        #expect(show.contains("has secret: yes"))
        for output in [list, show] {
            #expect(!output.contains(token))
            #expect(!output.contains("very-secret-value"))
        }
        let (deleteStatus, _) = try await herald(["registrations", "delete", "node-one"])
        #expect(deleteStatus == 0)
        #expect(try await store.registration(node: "node-one") == nil)
        let (missingStatus, missing) = try await herald(["registrations", "show", "node-one"])
        #expect(missingStatus != 0)
        #expect(missing.contains("no registration"))
    }
}
