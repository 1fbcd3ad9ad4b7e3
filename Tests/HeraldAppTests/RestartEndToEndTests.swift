import CryptoExtras
import FCM
import Foundation
import HeraldHarness
import HeraldTesting
import MockVendors
import Testing
import XMLStream
import XMPPComponent

/// The `herald` binary stopped and started again while a push waits for its retry, with a real Prosody
/// publishing and the mock FCM refusing, then accepting: the queued push must survive either signal.
@Suite(.serialized, .timeLimit(.minutes(2))) struct RestartEndToEndTests {
    private static let secret = "component-secret"

    @Test(arguments: [SIGKILL, SIGTERM])
    func aPushQueuedForARetryGoesAfterTheRestartNoEarlierThanItsRetryAfter(signal: Int32) async throws {
        let prosody = try ProsodyServer(components: [.init(domain: "push.localhost", secret: Self.secret)])
        for user in ["romeo", "juliet"] { try await prosody.register(user: user, password: "pass") }
        try await prosody.start()
        defer { prosody.terminate() }
        let account = try ServiceAccount(json: Data(contentsOf: URL(fileURLWithPath: ExampleKeys.fcmServiceAccountPath)))
        let fcm = try await MockFCMServer.start(
            certificateFile: ExampleKeys.tlsCertificatePath, privateKeyFile: ExampleKeys.tlsKeyPath,
            publicKey: account.privateKey.publicKey, projectID: account.projectID
        )
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("herald-restart-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let log = directory.appendingPathComponent("herald.log").path
        let environment = MockVendorEnvironment.fcm(url: fcm.url).merging([
            "HERALD_XMPP__PORT": "\(prosody.componentPort)",
            "HERALD_XMPP__RECONNECT_INITIAL_DELAY": "50ms",
            "HERALD_XMPP__RECONNECT_MAX_DELAY": "500ms",
            "HERALD_COMPONENTS__0__DOMAIN": "push.localhost",
            "HERALD_COMPONENTS__0__SECRET": Self.secret,
            "HERALD_APPS__0__NAME": "chat",
            "HERALD_STORAGE__PATH": directory.appendingPathComponent("herald.sqlite").path,
            "HERALD_ADMIN__PORT": "0",
        ]) { a, _ in a }
        func startHerald() async throws -> ChildProcess {
            let herald = try ChildProcess(path: HeraldBinary.path, arguments: ["serve"], environment: environment, logPath: log)
            let up = try await heraldAnswers(through: prosody, as: "juliet")
            #expect(up, "herald log: \((try? String(contentsOfFile: log, encoding: .utf8)) ?? "")")
            return herald
        }

        let first = try await startHerald()
        defer { first.terminate() }
        let token = "fcm-restart-\(signal)"
        let (client, _) = try await registerAndEnable(
            "romeo", token: token, prosody: prosody, command: "register-push-fcm", fields: [("token", token), ("device-id", "romeo-phone")]
        )
        await client.close()
        fcm.script(token, .error(status: 503, code: "UNAVAILABLE", retryAfter: 5))
        try await sendMessage(to: "romeo", prosody: prosody)
        #expect(await eventually { fcm.messages.contains { $0.token == token && $0.status == 503 } }, "\(prosody.log.suffix(2000))")
        #expect(await eventually { prosody.log.contains("Got error <wait:internal-server-error") && prosody.log.contains("retrying") })
        first.send(signal)
        #expect(await first.waitForExit(timeout: .seconds(30)) != nil)

        fcm.script(token, .success)
        let second = try await startHerald()
        defer { second.terminate() }
        #expect(
            await eventually(timeout: .seconds(20)) { fcm.messages.contains { $0.token == token && $0.status == 200 } },
            "herald log: \((try? String(contentsOfFile: log, encoding: .utf8)) ?? "")"
        )
        // The mock's own times, taken as it answered, so a busy test process cannot shorten the gap.
        let refused = try #require(fcm.messages.first { $0.token == token && $0.status == 503 }).answeredAt
        let sent = try #require(fcm.messages.first { $0.token == token && $0.status == 200 }).answeredAt
        let waited = sent.timeIntervalSince(refused)
        #expect(waited >= 4.9, "sent \(waited) s after the 503 that asked for 5 s")
        #expect(fcm.messages.filter { $0.token == token }.map(\.status) == [503, 200], "sent once before and once after the restart")
        await fcm.stop()
    }
}
