import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import HeraldHarness
import HeraldTesting
import MockVendors
import Synchronization
import Testing
import XMLStream
import XMPPComponent

/// Several `herald serve` processes on one real PostgreSQL: two behind ejabberd, which balances one
/// component domain over both, and a primary with a hot standby behind Prosody, which takes one
/// connection per domain. Instances are killed with SIGKILL while they work.
@Suite(
    .serialized, .timeLimit(.minutes(4)),
    .enabled(if: PostgresServer.isInstalled, "PostgreSQL is not installed")
)
struct ScaleOutEndToEndTests {
    private static let secret = "component-secret"

    /// What every instance shares: the mock APNs, the database, the component.
    private func environment(xmppPort: Int, apns: MockAPNsServer, databaseURL: String) -> [String: String] {
        MockVendorEnvironment.apns(url: apns.url, topic: "org.example.chat").merging([
            "HERALD_XMPP__PORT": "\(xmppPort)",
            "HERALD_XMPP__RECONNECT_INITIAL_DELAY": "50ms",
            "HERALD_XMPP__RECONNECT_MAX_DELAY": "500ms",
            "HERALD_COMPONENTS__0__DOMAIN": "push.localhost",
            "HERALD_COMPONENTS__0__SECRET": Self.secret,
            "HERALD_APPS__0__NAME": "chat",
            "HERALD_APPS__0__CONTENT__FORWARD_BODY": "true",
            "HERALD_STORAGE__ENGINE": "postgres",
            "HERALD_STORAGE__POSTGRES__URL": databaseURL,
            "HERALD_DELIVERY__COALESCING_WINDOW": "0s",
            "HERALD_DELIVERY__RETRY_INITIAL_DELAY": "500ms",
            "HERALD_DELIVERY__RETRY_MAX_DELAY": "1s",
            "HERALD_DELIVERY__PENDING_LEASE": "3s",
            "HERALD_REGISTRATIONS__RATE_LIMIT": "1000",
        ]) { a, _ in a }
    }

    private func start(_ name: String, environment: [String: String], in directory: URL) throws -> (ChildProcess, String, Int) {
        let log = directory.appendingPathComponent("\(name).log").path
        let adminPort = try LoopbackPort.free()
        var environment = environment
        environment["HERALD_ADMIN__PORT"] = "\(adminPort)"
        let process = try ChildProcess(path: HeraldBinary.path, arguments: ["serve"], environment: environment, logPath: log)
        return (process, log, adminPort)
    }

    /// What the publishing tasks share: each publish's outcome, and the instance killed.
    private final class LoadState: Sendable {
        let answers = Mutex<[Int: String]>([:])
        let killed = Atomic<Bool>(false)
        let victim = Mutex<ChildProcess?>(nil)
    }

    private func contents(_ path: String) -> String { (try? String(contentsOfFile: path, encoding: .utf8)) ?? "" }

    /// `/ready`'s body, or nil while the admin server does not answer.
    private func readiness(port: Int) async -> String? {
        guard let url = URL(string: "http://127.0.0.1:\(port)/ready"),
            let (data, _) = try? await URLSession.shared.data(from: url)
        else { return nil }
        return String(decoding: data, as: UTF8.self)
    }

    /// A publish as a server sends it, from a client here: the node, its secret and a body that names it.
    private func publish(node: String, secret: String, body: String) -> StreamElement {
        let summary = DataForm(type: "submit", fields: [
            .init("FORM_TYPE", value: "urn:xmpp:push:summary"),
            .init("message-count", value: "1"),
            .init("last-message-body", value: body),
        ])
        let options = DataForm(type: "submit", fields: [
            .init("FORM_TYPE", value: "http://jabber.org/protocol/pubsub#publish-options"),
            .init("secret", value: secret),
        ])
        return StreamElement("pubsub", namespace: "http://jabber.org/protocol/pubsub")
            .appending(
                StreamElement("publish", namespace: "http://jabber.org/protocol/pubsub", ["node": node])
                    .appending(StreamElement("item", namespace: "http://jabber.org/protocol/pubsub")
                        .appending(StreamElement("notification", namespace: "urn:xmpp:push:0").appending(summary.element)))
            )
            .appending(StreamElement("publish-options", namespace: "http://jabber.org/protocol/pubsub").appending(options.element))
    }

    @Test func twoInstancesBehindEjabberdShareTheWorkAndASIGKILLLosesNoAcceptedPush() async throws {
        let postgres = try await PostgresServer.shared()
        let databaseURL = postgres.url(database: try await postgres.makeDatabase())
        let users = (0..<10).map { "user\($0)" }
        let ejabberd = try EjabberdServer(component: .init(domain: "push.localhost", secret: Self.secret))
        try await ejabberd.start(users: users + ["juliet"], password: "pass")
        defer { ejabberd.terminate() }
        let apns = try await MockAPNsServer.start(
            certificateFile: ExampleKeys.tlsCertificatePath, privateKeyFile: ExampleKeys.tlsKeyPath,
            credentials: try ExampleKeys.mockAPNsCredentials()
        )
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("herald-scale-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let environment = environment(xmppPort: ejabberd.componentPort, apns: apns, databaseURL: databaseURL)
        let (first, firstLog, firstAdmin) = try start("first", environment: environment, in: directory)
        defer { first.terminate() }
        let (second, secondLog, secondAdmin) = try start("second", environment: environment, in: directory)
        defer { second.terminate() }
        for port in [firstAdmin, secondAdmin] {
            #expect(
                await eventually(timeout: .seconds(30)) { await readiness(port: port)?.contains("\"ready\":true") == true },
                "first: \(contents(firstLog).suffix(1500)) second: \(contents(secondLog).suffix(1500))"
            )
        }

        // Devices registered through whichever instance ejabberd picks: both must know every one.
        var devices: [(node: String, secret: String, token: String)] = []
        let client = try await TestXMPPClient.connect(port: ejabberd.clientPort, username: "juliet", domain: "localhost", password: "pass", resource: "load")
        defer { Task { await client.close() } }
        for (index, user) in users.enumerated() {
            let token = String(format: "5c%02x", index) + String(repeating: "0", count: 60)
            let account = try await TestXMPPClient.connect(port: ejabberd.clientPort, username: user, domain: "localhost", password: "pass", resource: "phone")
            let reply = try await account.execute(command: "register-push-apns", at: "push.localhost", fields: [("token", token), ("device-id", "\(user)-phone")])
            await account.close()
            devices.append((try #require(reply.commandForm?["node"]), try #require(reply.commandForm?["secret"]), token))
        }
        #expect(try await postgres.psql("SELECT count(*) FROM registration", database: String(databaseURL.split(separator: "/").last!.split(separator: "?")[0])) == "10")
        // One device's pushes are refused for a while, so that retries are pending when an instance dies.
        let registered = devices
        let refused = registered[0]
        apns.script(refused.token, .failure(status: 503, reason: "ServiceUnavailable", retryAfter: 2))

        // 1,000 publishes, 50 at a time, each with a body naming it; the instance holding a pending
        // retry is killed after the first 300 answers.
        let total = 1_000
        let load = LoadState()
        await withTaskGroup(of: Void.self) { group in
            for index in 0..<total {
                if index >= 50 { await group.next() }
                let device = registered[index % registered.count]
                let stanza = publish(node: device.node, secret: device.secret, body: "publish-\(index)")
                group.addTask {
                    let reply = try? await client.request(type: "set", to: JID(domain: "push.localhost"), payload: stanza, timeout: .seconds(15))
                    let outcome = reply.map { $0.stanzaType == "result" ? "result" : ($0.child("error")?[attribute: "type"] ?? "error") } ?? "none"
                    let count = load.answers.withLock { answers in
                        answers[index] = outcome
                        return answers.count
                    }
                    if count >= 300, !load.killed.exchange(true, ordering: .relaxed) {
                        // Kill whichever instance holds a pending retry now (its name carries its PID).
                        let holder = (try? await postgres.psql(
                            "SELECT claimed_by FROM pending_push LIMIT 1",
                            database: String(databaseURL.split(separator: "/").last!.split(separator: "?")[0])
                        )) ?? ""
                        let pid = holder.split(separator: "-").dropLast().last.flatMap { Int32($0) }
                        let chosen = pid == second.pid ? second : first
                        chosen.send(SIGKILL)
                        load.victim.withLock { $0 = chosen }
                        // The vendor is back: what the dead instance held must now reach it.
                        apns.script(refused.token, .success)
                    }
                }
            }
        }
        let outcomes = load.answers.withLock { $0 }
        let dead = try #require(load.victim.withLock { $0 })
        #expect(await dead.waitForExit(timeout: .seconds(10)) != nil)
        let lost = outcomes.values.filter { $0 == "none" }.count
        #expect(outcomes.count == total)
        #expect(lost <= 60, "only publishes in flight on the killed connection may go unanswered (\(lost))")
        #expect(outcomes.values.allSatisfy { ["result", "wait", "none"].contains($0) }, "\(Set(outcomes.values))")

        // Whatever was pending, on either instance, goes.
        let survivor = dead === first ? second : first
        #expect(survivor.isRunning)
        let accepted = Set(outcomes.filter { $0.value == "result" }.map { "publish-\($0.key)" })
        func delivered() -> [String] {
            apns.requests.filter { $0.status == 200 }.compactMap { request in
                request.body.firstMatch(of: /publish-\d+/).map { String($0.output) }
            }
        }
        let databaseName = String(databaseURL.split(separator: "/").last!.split(separator: "?")[0])
        #expect(
            await eventually(timeout: .seconds(30)) {
                (try? await postgres.psql("SELECT count(*) FROM pending_push", database: databaseName)) == "0"
            },
            "the survivor took over the killed instance's retries: \(contents(firstLog).suffix(1000)) \(contents(secondLog).suffix(1000))"
        )
        let pushed = delivered()
        #expect(accepted.isSubset(of: Set(pushed)), "every publish answered result was pushed")
        // No push twice, except a request the killed instance sent and never heard back on.
        let counts = Dictionary(pushed.map { ($0, 1) }, uniquingKeysWith: +)
        let twice = counts.filter { $0.value > 1 }
        #expect(twice.count <= 50, "pushed twice: \(twice.count)")
        print("scale-out: \(outcomes.values.filter { $0 == "result" }.count) result, \(outcomes.values.filter { $0 == "wait" }.count) wait, \(lost) unanswered; \(pushed.count) pushes delivered, \(twice.count) twice")
        #expect(apns.requests.filter { $0.deviceToken == refused.token && $0.status == 200 }.count >= 1, "the pending retry was delivered")
        // Both instances answered publishes.
        #expect(contents(firstLog).contains("component connected") && contents(secondLog).contains("component connected"))
        #expect(try await postgres.psql("SELECT count(*) FROM registration", database: databaseName) == "10", "no registration dropped")
        await apns.stop()
    }

    @Test func aStandbyBehindProsodyTakesOverWithinFiveSecondsOfTheKill() async throws {
        let postgres = try await PostgresServer.shared()
        let databaseURL = postgres.url(database: try await postgres.makeDatabase())
        let prosody = try ProsodyServer(components: [.init(domain: "push.localhost", secret: Self.secret)])
        for user in ["romeo", "juliet"] { try await prosody.register(user: user, password: "pass") }
        try await prosody.start()
        defer { prosody.terminate() }
        let apns = try await MockAPNsServer.start(
            certificateFile: ExampleKeys.tlsCertificatePath, privateKeyFile: ExampleKeys.tlsKeyPath,
            credentials: try ExampleKeys.mockAPNsCredentials()
        )
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("herald-standby-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let environment = environment(xmppPort: prosody.componentPort, apns: apns, databaseURL: databaseURL)
        let (primary, primaryLog, primaryAdmin) = try start("primary", environment: environment, in: directory)
        defer { primary.terminate() }
        #expect(await eventually(timeout: .seconds(30)) { await readiness(port: primaryAdmin)?.contains("\"detail\":\"connected\"") == true })
        let (standby, standbyLog, standbyAdmin) = try start("standby", environment: environment, in: directory)
        defer { standby.terminate() }
        #expect(
            await eventually(timeout: .seconds(30)) { await readiness(port: standbyAdmin)?.contains("standby") == true },
            "\(contents(standbyLog).suffix(2000))"
        )
        #expect(await readiness(port: standbyAdmin)?.contains("\"ready\":true") == true, "a standby is ready")
        #expect(contents(standbyLog).components(separatedBy: "component on standby").count == 2, "said once")

        let token = "5b" + String(repeating: "0", count: 62)
        let (client, _) = try await registerAndEnable("romeo", token: token, prosody: prosody)
        await client.close()
        primary.send(SIGKILL)
        #expect(await primary.waitForExit(timeout: .seconds(10)) != nil)
        let killedAt = ContinuousClock.now
        #expect(
            await eventually(timeout: .seconds(10)) { await readiness(port: standbyAdmin)?.contains("\"detail\":\"connected\"") == true },
            "\(contents(standbyLog).suffix(2000))"
        )
        try await sendMessage(to: "romeo", prosody: prosody)
        #expect(await eventually(timeout: .seconds(10)) { apns.requests.contains { $0.deviceToken == token && $0.status == 200 } })
        let tookOver = killedAt.duration(to: .now)
        // Prosody batches the push for a hibernated session about 1 s; the standby retries every 2 s.
        #expect(tookOver < .seconds(5), "connected and pushing \(tookOver) after the kill")
        print("standby: connected and pushing \(tookOver) after the primary's SIGKILL")
        #expect(contents(standbyLog).contains("component became primary"))
        _ = primaryLog
        await apns.stop()
    }
}
