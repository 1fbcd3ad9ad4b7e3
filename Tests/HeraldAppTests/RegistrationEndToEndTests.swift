import Foundation
import HeraldApp
import HeraldCore
import HeraldHarness
import HeraldSQLite
import HeraldTesting
import Logging
import MockVendors
import ServiceLifecycle
import Testing
import XMLStream
import XMPPComponent

/// Registration through a real Prosody: a logged-in client executes the command at Herald's domain.
@Suite(.serialized, .timeLimit(.minutes(2))) struct RegistrationEndToEndTests {
    private static let secret = "component-secret"

    private func environment(prosody: ProsodyServer, database: String) -> [String: String] {
        [
            "HERALD_XMPP__PORT": "\(prosody.componentPort)",
            "HERALD_XMPP__RECONNECT_INITIAL_DELAY": "50ms",
            // After kill -9 Prosody may still hold the old session for a moment and answer conflict;
            // keep retries frequent so the restart is measured, not the backoff.
            "HERALD_XMPP__RECONNECT_MAX_DELAY": "500ms",
            "HERALD_COMPONENTS__0__DOMAIN": "push.localhost",
            "HERALD_COMPONENTS__0__SECRET": Self.secret,
            "HERALD_APPS__0__NAME": "chat",
            "HERALD_APPS__0__FCM__SERVICE_ACCOUNT_FILE": ExampleKeys.fcmServiceAccountPath,
            "HERALD_STORAGE__PATH": database,
            "HERALD_ADMIN__PORT": "0",
        ]
    }

    private func startProsody() async throws -> ProsodyServer {
        let prosody = try ProsodyServer(components: [.init(domain: "push.localhost", secret: Self.secret)])
        try await prosody.register(user: "romeo", password: "pass")
        try await prosody.start()
        return prosody
    }

    private func registerP2(_ client: TestXMPPClient, token: String = "fcm-token-1") async throws -> (node: String?, secret: String?, reply: StreamElement) {
        let reply = try await client.execute(
            command: "register-push-fcm", at: "push.localhost",
            fields: [("token", token), ("device-id", "92afd7a91cdba9a0")]
        )
        return (reply.commandForm?["node"], reply.commandForm?["secret"], reply)
    }

    @Test func clientRegistersThroughProsodyAndGetsNodeAndSecret() async throws {
        let prosody = try await startProsody()
        defer { prosody.terminate() }
        let database = FileManager.default.temporaryDirectory.appendingPathComponent("herald-e2e-\(UUID().uuidString).sqlite").path
        let configuration = try HeraldConfiguration.load(path: nil, environment: environment(prosody: prosody, database: database))
        let application = try HeraldApplication(configuration: configuration, logger: Logger(label: "test"))
        let group = application.serviceGroup(signals: false)
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            #expect(await eventually(timeout: .seconds(30)) { application.components[0].status.isConnected }, "\(prosody.log.suffix(3000))")
            let client = try await TestXMPPClient.connect(port: prosody.clientPort, username: "romeo", domain: "localhost", password: "pass")
            let (node, secret, reply) = try await registerP2(client)
            #expect(reply.stanzaType == "result")
            #expect(reply.commandForm?["jid"] == "push.localhost")
            let registeredNode = try #require(node)
            let registration = try #require(try await application.store.registration(node: registeredNode))
            #expect(registration.secret == secret)
            #expect(registration.accountDomain == "localhost")

            let list = try await client.request(
                type: "get", to: JID(domain: "push.localhost"),
                payload: StreamElement("query", namespace: Namespace.discoItems, ["node": Namespace.commands])
            )
            #expect(list.child("query")?.children("item").contains { $0[attribute: "node"] == "register-push-fcm" } == true)
            await client.close()
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
        }
    }

    @Test func siskinRegistersOnTheShippedExampleConfiguration() async throws {
        let prosody = try await startProsody()
        defer { prosody.terminate() }
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("herald-example-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let secretFile = folder.appendingPathComponent("secret").path
        try Self.secret.write(toFile: secretFile, atomically: true, encoding: .utf8)
        // The file as shipped; only what must point at this machine is overridden (no tigase_providers).
        let repository = ExampleKeys.root.deletingLastPathComponent()
        let configuration = try HeraldConfiguration.load(
            path: repository.appendingPathComponent("deploy/herald.example.yaml").path,
            environment: [:],
            overrides: [
                ("xmpp.port", "\(prosody.componentPort)"), ("components.0.domain", "push.localhost"),
                ("components.0.secret_file", secretFile), ("registrations.hash_key_file", secretFile), ("admin.token_file", secretFile),
                ("admin.port", "0"), ("storage.path", folder.appendingPathComponent("herald.sqlite").path),
                ("apps.0.apns.key_file", ExampleKeys.apnsKeyPath),
                ("apps.0.fcm.service_account_file", ExampleKeys.fcmServiceAccountPath),
                ("apps.0.webpush.vapid_private_key_file", ExampleKeys.vapidKeyPath),
            ]
        )
        let application = try HeraldApplication(configuration: configuration, logger: Logger(label: "test"))
        let group = application.serviceGroup(signals: false)
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            #expect(await eventually(timeout: .seconds(30)) { application.components[0].status.isConnected }, "\(prosody.log.suffix(3000))")
            let client = try await TestXMPPClient.connect(port: prosody.clientPort, username: "romeo", domain: "localhost", password: "pass")
            // What Siskin and Snikket iOS send: Tigase's provider id, an APNs token and a PushKit token.
            let reply = try await client.execute(
                command: "register-device", at: "push.localhost",
                fields: [
                    ("provider", "tigase:messenger:apns:1"),
                    ("device-token", "00fc13adff785122b4ad28809a3420982341241421348097878e577c991de8f0"),
                    ("device-second-token", "5a5b5c5d"),
                ]
            )
            #expect(reply.stanzaType == "result", "\(reply)")
            let node = try #require(reply.commandForm?["node"])
            #expect(try await application.store.registration(node: node)?.voipToken == "5a5b5c5d")
            await client.close()
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
        }
    }

    @Test func registrationsSurviveKillDashNine() async throws {
        let prosody = try await startProsody()
        defer { prosody.terminate() }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("herald-kill-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let database = directory.appendingPathComponent("herald.sqlite").path
        let environment = environment(prosody: prosody, database: database)
        let log = directory.appendingPathComponent("herald.log").path

        func startHerald() async throws -> ChildProcess {
            let herald = try ChildProcess(path: HeraldBinary.path, arguments: ["serve"], environment: environment, logPath: log)
            do {
                let up = try await heraldAnswers(through: prosody, as: "romeo")
                #expect(up, "herald log: \((try? String(contentsOfFile: log, encoding: .utf8)) ?? "")")
                return herald
            } catch {
                await herald.stop()
                throw error
            }
        }

        let first = try await startHerald()
        // Stops it should the test end early; after the SIGKILL below this does nothing.
        defer { first.terminate() }
        let client = try await TestXMPPClient.connect(port: prosody.clientPort, username: "romeo", domain: "localhost", password: "pass")
        var registered: [(node: String, secret: String)] = []
        for index in 0..<20 {
            let reply = try await client.execute(
                command: "register-push-fcm", at: "push.localhost",
                fields: [("token", "token-\(index)"), ("device-id", "device-\(index)")]
            )
            registered.append((try #require(reply.commandForm?["node"]), try #require(reply.commandForm?["secret"])))
        }
        first.send(SIGKILL)
        #expect(await first.waitForExit() != nil)

        let second = try await startHerald()
        defer { second.terminate() }
        // Every answered registration is still there: re-registering returns the same node and secret.
        for (index, expected) in registered.enumerated() {
            let reply = try await client.execute(
                command: "register-push-fcm", at: "push.localhost",
                fields: [("token", "token-\(index)"), ("device-id", "device-\(index)")]
            )
            #expect(reply.commandForm?["node"] == expected.node)
            #expect(reply.commandForm?["secret"] == expected.secret)
        }
        let store = try SQLiteRegistrationStore(path: database)
        #expect(try await store.count() == 20)
        await client.close()
    }
}
