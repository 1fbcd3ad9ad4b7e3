import Foundation
import HeraldApp
import HeraldCore
import HeraldHarness
import HeraldTesting
import InMemoryLogging
import Logging
import MockVendors
import ServiceLifecycle
import Testing
import XMPPComponent

/// The whole path through a real ejabberd 23.01 with mod_push: the server that drops a registration at
/// the first error reply that is not `wait`, so every reply Herald gives it is tested for what it makes
/// ejabberd do.
@Suite(.serialized, .timeLimit(.minutes(3)), .enabled(if: EjabberdServer.isInstalled, "ejabberd is not installed"))
struct EjabberdEndToEndTests {
    private static let secret = "component-secret"

    private func withEjabberd(
        users: [String],
        coalescingWindow: String = "100ms",
        _ body: (EjabberdServer, MockAPNsServer, HeraldApplication, InMemoryLogHandler) async throws -> Void
    ) async throws {
        let ejabberd = try EjabberdServer(component: .init(domain: "push.localhost", secret: Self.secret))
        try await ejabberd.start(users: users + ["juliet"], password: "pass")
        defer { ejabberd.terminate() }
        let apns = try await MockAPNsServer.start(
            certificateFile: ExampleKeys.tlsCertificatePath, privateKeyFile: ExampleKeys.tlsKeyPath,
            credentials: try ExampleKeys.mockAPNsCredentials()
        )
        let configuration = try HeraldConfiguration.load(path: nil, environment: MockVendorEnvironment.apns(url: apns.url, topic: "org.example.chat").merging([
            "HERALD_XMPP__PORT": "\(ejabberd.componentPort)",
            "HERALD_COMPONENTS__0__DOMAIN": "push.localhost",
            "HERALD_COMPONENTS__0__SECRET": Self.secret,
            "HERALD_ADMIN__PORT": "0",
            "HERALD_APPS__0__NAME": "chat",
            "HERALD_DELIVERY__RETRY_INITIAL_DELAY": "200ms",
            "HERALD_DELIVERY__RETRY_MAX_DELAY": "400ms",
            "HERALD_DELIVERY__COALESCING_WINDOW": coalescingWindow,
        ]) { a, _ in a })
        var logs = InMemoryLogHandler()
        logs.logLevel = .debug
        let handler = logs
        let application = try HeraldApplication(
            configuration: configuration, logger: Logger(label: "herald") { _ in handler }, store: InMemoryRegistrationStore()
        )
        let group = application.serviceGroup(signals: false)
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            #expect(await eventually(timeout: .seconds(20)) { application.components[0].status.isConnected }, "\(ejabberd.log.suffix(2000))")
            do {
                try await body(ejabberd, apns, application, logs)
            } catch {
                Issue.record("ejabberd log tail: \(ejabberd.log.suffix(3000))")
                throw error
            }
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
        }
        await apns.stop()
    }

    private func outcomes(_ logs: InMemoryLogHandler) -> [String] {
        logs.entries.filter { $0.message == "publish answered" }.compactMap { $0.metadata[LogKey.outcome].map { "\($0)" } }
    }

    @Test func anOfflineUsersMessageBecomesOnePush() async throws {
        try await withEjabberd(users: ["romeo"]) { ejabberd, apns, _, logs in
            let token = "ee01" + String(repeating: "0", count: 60)
            let (client, _) = try await registerAndEnable("romeo", token: token, clientPort: ejabberd.clientPort)
            await client.close()
            try await sendMessage(to: "romeo", clientPort: ejabberd.clientPort)
            #expect(await eventually(timeout: .seconds(15)) { apns.requests.contains { $0.deviceToken == token } }, "\(ejabberd.log.suffix(2000))")
            #expect(apns.requests.first?.status == 200)
            #expect(await eventually { outcomes(logs) == ["delivered"] }, "\(outcomes(logs))")
        }
    }

    @Test func duringAnOutageBothPublishesHearWaitAndEjabberdKeepsTheRegistration() async throws {
        try await withEjabberd(users: ["romeo"]) { ejabberd, apns, _, logs in
            let token = "ee02" + String(repeating: "0", count: 60)
            let (client, _) = try await registerAndEnable("romeo", token: token, clientPort: ejabberd.clientPort)
            await client.close()
            // Down, and asking for 3 s: long enough for the second message to find the retry queued.
            apns.scriptDefault(.failure(status: 503, reason: "ServiceUnavailable", retryAfter: 3))
            try await sendMessage(to: "romeo", clientPort: ejabberd.clientPort, body: "one")
            #expect(await eventually(timeout: .seconds(15)) { outcomes(logs) == ["retrying"] }, "\(outcomes(logs))")
            try await sendMessage(to: "romeo", clientPort: ejabberd.clientPort, body: "two")
            #expect(await eventually(timeout: .seconds(15)) { outcomes(logs) == ["retrying", "retrying"] }, "\(outcomes(logs))")
            #expect(apns.requestCount == 1, "the second publish rode on the queued retry")
            apns.scriptDefault(.success)
            #expect(await eventually(timeout: .seconds(15)) { apns.requests.contains { $0.status == 200 } }, "delivered once the vendor is back")

            // ejabberd kept the registration: the next message is published and pushed.
            try await sendMessage(to: "romeo", clientPort: ejabberd.clientPort, body: "three")
            #expect(await eventually(timeout: .seconds(15)) { apns.requests.filter { $0.status == 200 }.count == 2 }, "\(ejabberd.log.suffix(2000))")
            #expect(outcomes(logs) == ["retrying", "retrying", "delivered"])
        }
    }

    @Test func aBurstWhoseTokenDiesInBetweenTellsEjabberdToDropTheRegistration() async throws {
        try await withEjabberd(users: ["romeo"], coalescingWindow: "3s") { ejabberd, apns, _, logs in
            let token = "ee03" + String(repeating: "0", count: 60)
            let (client, _) = try await registerAndEnable("romeo", token: token, clientPort: ejabberd.clientPort)
            await client.close()
            try await sendMessage(to: "romeo", clientPort: ejabberd.clientPort, body: "one")
            #expect(await eventually(timeout: .seconds(15)) { outcomes(logs) == ["delivered"] }, "\(outcomes(logs))")
            apns.script(token, .unregistered)
            // Within the burst window: the publish waits for the verdict on the push at the window's end.
            try await sendMessage(to: "romeo", clientPort: ejabberd.clientPort, body: "two")
            #expect(await eventually(timeout: .seconds(15)) { outcomes(logs) == ["delivered", "token_removed"] }, "\(outcomes(logs))")
            #expect(apns.requests.map(\.status) == [200, 410])

            // ejabberd heard item-not-found and dropped the registration: no more publishes.
            try await sendMessage(to: "romeo", clientPort: ejabberd.clientPort, body: "three")
            try await Task.sleep(for: .seconds(2))
            #expect(outcomes(logs) == ["delivered", "token_removed"], "\(ejabberd.log.suffix(2000))")
        }
    }
}
