import CryptoExtras
import FCM
import Foundation
import HeraldCore
import HeraldHarness
import HeraldSQLite
import HeraldTesting
import MockVendors
import Testing

/// The `herald` binary under sustained traffic to the mock vendors, far past the 65,535 bytes of
/// response bodies that once ended a vendor connection: every answer is seen, none is sent twice.
@Suite(.serialized, .timeLimit(.minutes(5))) struct VendorVolumeEndToEndTests {
    static let publishes = 20_000

    final class Workspace: Sendable {
        let directory: URL
        let generator: LoadGenerator
        var database: String { directory.appendingPathComponent("herald.sqlite").path }
        var logPath: String { directory.appendingPathComponent("herald.log").path }
        var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

        init() async throws {
            directory = FileManager.default.temporaryDirectory.appendingPathComponent("herald-volume-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            generator = try await LoadGenerator.start(secret: "volume-component-secret", publishSecret: "volume-publish-secret")
        }

        /// One registration per publish, so each publish is exactly one vendor request.
        func register(_ service: PushVendor, token: (Int) -> String) async throws {
            let store = try SQLiteRegistrationStore(path: database)
            let now = Date()
            try await store.saveAll((0..<VendorVolumeEndToEndTests.publishes).map { index in
                Registration(
                    node: LoadHandler.node(index), secret: generator.publishSecret, app: "volume", service: service, dialect: .p2,
                    token: token(index), environment: .production, accountDomain: "bench.example",
                    accountKey: "account-\(index)", deviceKey: "device-\(index)", createdAt: now
                )
            })
        }

        func startHerald(vendor: [String: String]) throws -> ChildProcess {
            var environment = [
                "HERALD_XMPP__PORT": String(generator.port),
                "HERALD_COMPONENTS__0__DOMAIN": "push.bench",
                "HERALD_COMPONENTS__0__SECRET": generator.secret,
                "HERALD_APPS__0__NAME": "volume",
                "HERALD_STORAGE__PATH": database,
                "HERALD_ADMIN__ENABLED": "false",
                "HERALD_DELIVERY__COALESCING_WINDOW": "0s",
                "HERALD_LOG__LEVEL": "warning",
            ]
            environment.merge(vendor) { _, new in new }
            return try ChildProcess(path: HeraldBinary.path, arguments: ["serve"], environment: environment, logPath: logPath)
        }

        func publishAll() async throws -> LoadGenerator.Result {
            guard await generator.waitForHandshake(timeout: .seconds(30)) != nil else { throw LoadGeneratorError("herald did not connect: \(log)") }
            return try await generator.run(.init(
                publishes: VendorVolumeEndToEndTests.publishes, window: 200, registrations: VendorVolumeEndToEndTests.publishes, sequential: true, timeLimit: .seconds(240)
            ))
        }

        func stop() async {
            await generator.stop()
            try? FileManager.default.removeItem(at: directory)
        }
    }

    @Test func twentyThousandFCMPushesAreEachAcceptedOnceAndAnsweredResult() async throws {
        let workspace = try await Workspace()
        let account = try ServiceAccount(json: Data(contentsOf: URL(fileURLWithPath: ExampleKeys.fcmServiceAccountPath)))
        let fcm = try await MockFCMServer.start(
            certificateFile: ExampleKeys.tlsCertificatePath, privateKeyFile: ExampleKeys.tlsKeyPath,
            publicKey: account.privateKey.publicKey, projectID: account.projectID
        )
        try await workspace.register(.fcm) { "fcm-token-\($0)" }
        let herald = try workspace.startHerald(vendor: MockVendorEnvironment.fcm(url: fcm.url))
        defer { herald.terminate() }
        let result = try await workspace.publishAll()

        #expect(result.results == Self.publishes, "errors: \(result.errors)\n\(workspace.log)")
        #expect(result.errors.isEmpty)
        #expect(fcm.acceptedCount == Self.publishes, "one accepted request per publish: none lost, none sent twice")
        let perToken = fcm.acceptedPerToken
        #expect(perToken.count == Self.publishes)
        #expect(perToken.values.allSatisfy { $0 == 1 })
        await herald.stop()
        await fcm.stop()
        await workspace.stop()
    }

    @Test func twentyThousandDeadAPNsTokensAreEachAnsweredItemNotFoundAndRemoved() async throws {
        let workspace = try await Workspace()
        let apns = try await MockAPNsServer.start(
            certificateFile: ExampleKeys.tlsCertificatePath, privateKeyFile: ExampleKeys.tlsKeyPath, credentials: try ExampleKeys.mockAPNsCredentials()
        )
        apns.treatAsUnregistered(prefix: "dead")
        apns.keepRequests(false)
        try await workspace.register(.apns) { index in
            let hex = String(index, radix: 16)
            return "dead" + String(repeating: "0", count: 60 - hex.count) + hex
        }
        let herald = try workspace.startHerald(vendor: MockVendorEnvironment.apns(url: apns.url, topic: "org.example.volume"))
        defer { herald.terminate() }
        let result = try await workspace.publishAll()

        #expect(result.errors["item-not-found"] == Self.publishes, "errors: \(result.errors), results: \(result.results)\n\(workspace.log)")
        #expect(apns.requestCount == Self.publishes, "one request per publish")
        let remaining = try await SQLiteRegistrationStore(path: workspace.database).count()
        #expect(remaining == 0, "every dead registration removed")
        await herald.stop()
        await apns.stop()
        await workspace.stop()
    }
}
