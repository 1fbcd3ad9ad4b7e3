import AsyncHTTPClient
import Crypto
import Foundation
import HeraldBuildInfo
import HeraldCore
import HeraldHarness
import HeraldSQLite
import HeraldTesting
import MockVendors
import NIOCore
import NIOHTTP1
import Synchronization
import Testing
import XMLStream

/// The `herald` binary run as an operator runs it: a configuration file, signals, the admin server and
/// the commands that talk to it, against a scripted XMPP server and the mock APNs.
@Suite(.serialized) struct OperationsEndToEndTests {
    static let componentSecret = "component-secret"
    static let adminToken = "admin-token-0123456789abcdef"
    static let deviceToken = String(repeating: "ab", count: 32)

    /// A workspace with a database holding one APNs registration, and the configuration around it.
    final class Workspace: Sendable {
        let directory: URL
        let server: FakeComponentServer
        let apns: MockAPNsServer
        /// Chosen free, and chosen again if another process takes it before Herald binds it.
        private let chosenAdminPort: Mutex<Int>
        var adminPort: Int { chosenAdminPort.withLock { $0 } }
        let registration: Registration

        var configPath: String { directory.appendingPathComponent("herald.yaml").path }
        var logPath: String { directory.appendingPathComponent("herald.log").path }
        var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

        init(apnsCredentials: MockAPNsServer.Credentials) async throws {
            directory = FileManager.default.temporaryDirectory.appendingPathComponent("herald-ops-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            server = try await FakeComponentServer.start(secret: OperationsEndToEndTests.componentSecret)
            apns = try await MockAPNsServer.start(
                certificateFile: ExampleKeys.tlsCertificatePath, privateKeyFile: ExampleKeys.tlsKeyPath, credentials: apnsCredentials
            )
            chosenAdminPort = Mutex(try LoopbackPort.free())
            registration = Registration(
                node: "node-ops-1", secret: "publish-secret-1", app: "chat", service: .apns, dialect: .p2,
                token: OperationsEndToEndTests.deviceToken, environment: .production, accountDomain: "example.org",
                accountKey: "account-1", deviceKey: "device-1", createdAt: Date()
            )
            let store = try SQLiteRegistrationStore(path: directory.appendingPathComponent("herald.sqlite").path)
            try await store.save(registration)
        }

        func writeConfiguration(
            keyFile: String = ExampleKeys.apnsKeyPath, keyID: String = ExampleKeys.apnsKeyID, retryInitialDelay: String = "1s", extra: String = ""
        ) throws {
            let yaml = """
                xmpp:
                  port: \(server.port)
                  reconnect_initial_delay: 50ms
                components:
                  - domain: push.localhost
                    secret: \(OperationsEndToEndTests.componentSecret)
                apps:
                  - name: chat
                    apns:
                      topic: org.example.chat
                      key_file: \(keyFile)
                      key_id: \(keyID)
                      team_id: \(ExampleKeys.apnsTeamID)
                      production_url: \(apns.url)
                      sandbox_url: \(apns.url)
                      ca_file: \(ExampleKeys.tlsCertificatePath)
                storage:
                  path: \(directory.appendingPathComponent("herald.sqlite").path)
                admin:
                  port: \(adminPort)
                  token: \(OperationsEndToEndTests.adminToken)
                delivery:
                  coalescing_window: 0s
                  retry_initial_delay: \(retryInitialDelay)
                \(extra)
                """
            try yaml.write(toFile: configPath, atomically: true, encoding: .utf8)
        }

        /// Starts `herald serve`. A port free a moment ago can be taken by another process of the parallel
        /// suite before Herald binds it; then Herald says so and exits, and it is started again on another.
        func startHerald(environment: [String: String] = [:]) async throws -> ChildProcess {
            for _ in 0..<3 {
                let before = log.count
                let child = try ChildProcess(path: HeraldBinary.path, arguments: ["serve", "--config", configPath], environment: environment, logPath: logPath)
                let deadline = ContinuousClock.now + .seconds(5)
                while ContinuousClock.now < deadline {
                    let started = String(log.dropFirst(before))
                    if started.contains("admin server listening") { return child }
                    if started.contains("admin server cannot listen") { break }
                    try await Task.sleep(for: .milliseconds(20))
                }
                guard String(log.dropFirst(before)).contains("admin server cannot listen") else { return child }
                await child.stop()
                let old = adminPort
                let new = try LoopbackPort.free()
                chosenAdminPort.withLock { $0 = new }
                let yaml = try String(contentsOfFile: configPath, encoding: .utf8)
                try yaml.replacingOccurrences(of: "  port: \(old)\n", with: "  port: \(new)\n").write(toFile: configPath, atomically: true, encoding: .utf8)
            }
            return try ChildProcess(path: HeraldBinary.path, arguments: ["serve", "--config", configPath], environment: environment, logPath: logPath)
        }

        /// Runs a `herald` command against this workspace's configuration; its exit status and output.
        func herald(_ arguments: [String]) async throws -> (status: Int32, output: String) {
            let output = directory.appendingPathComponent("command-\(UUID().uuidString).log").path
            let child = try ChildProcess(path: HeraldBinary.path, arguments: arguments + ["--config", configPath], logPath: output)
            defer { child.terminate() }
            let status = await child.waitForExit(timeout: .seconds(30)) ?? -1
            return (status, (try? String(contentsOfFile: output, encoding: .utf8)) ?? "")
        }

        func get(_ path: String) async throws -> (status: UInt, body: String) {
            let response = try await HTTPClient.shared.execute(HTTPClientRequest(url: "http://127.0.0.1:\(adminPort)\(path)"), timeout: .seconds(10))
            return (response.status.code, String(buffer: try await response.body.collect(upTo: 1 << 20)))
        }

        func publish(id: String) -> String {
            """
            <iq type='set' from='example.org' to='push.localhost' id='\(id)'><pubsub xmlns='http://jabber.org/protocol/pubsub'>\
            <publish node='\(registration.node)'><item><notification xmlns='urn:xmpp:push:0'><x xmlns='jabber:x:data' type='form'>\
            <field var='FORM_TYPE'><value>urn:xmpp:push:summary</value></field><field var='message-count'><value>1</value></field>\
            </x></notification></item></publish><publish-options><x xmlns='jabber:x:data' type='submit'>\
            <field var='FORM_TYPE'><value>http://jabber.org/protocol/pubsub#publish-options</value></field>\
            <field var='secret'><value>\(registration.secret ?? "")</value></field></x></publish-options></pubsub></iq>
            """
        }

        func stop() async {
            await server.stop()
            await apns.stop()
            try? FileManager.default.removeItem(at: directory)
        }
    }

    @Test func sighupReloadsCredentialsWithoutDroppingTheComponentAndPushTestGoesThroughTheRealPath() async throws {
        // The mock accepts only a key Herald does not have yet: pushes fail until the reload.
        let newKey = P256.Signing.PrivateKey()
        let newKeyID = "NEWKEY0001"
        let workspace = try await Workspace(apnsCredentials: .init(keyID: newKeyID, teamID: ExampleKeys.apnsTeamID, publicKey: newKey.publicKey))
        defer { Task { await workspace.stop() } }
        let newKeyPath = workspace.directory.appendingPathComponent("AuthKey_\(newKeyID).p8").path
        try newKey.pemRepresentation.write(toFile: newKeyPath, atomically: true, encoding: .utf8)
        try workspace.writeConfiguration()

        let herald = try await workspace.startHerald()
        defer { herald.terminate() }
        #expect(await eventually(timeout: .seconds(20)) { workspace.server.successfulHandshakes == 1 }, "\(workspace.log)")
        #expect(await eventually { (try? await workspace.get("/ready"))?.status == 200 }, "\(workspace.log)")
        let ready = try await workspace.herald(["health", "--ready"])
        #expect(ready.status == 0, "\(ready.output)")
        #expect(ready.output.contains("\"ready\":true"))

        let refused = try await workspace.herald(["push-test", workspace.registration.node])
        #expect(refused.status == 1)
        #expect(refused.output.contains("\"outcome\":\"credentials\""), "\(refused.output)")
        #expect(refused.output.contains("InvalidProviderToken"))

        // A broken key file is refused and the clients in use are kept.
        let brokenKeyPath = workspace.directory.appendingPathComponent("broken.p8").path
        try "not a key".write(toFile: brokenKeyPath, atomically: true, encoding: .utf8)
        try workspace.writeConfiguration(keyFile: brokenKeyPath, keyID: newKeyID)
        herald.send(SIGHUP)
        #expect(await eventually { workspace.log.contains("credentials not reloaded") }, "\(workspace.log)")
        #expect(workspace.log.contains("apps[0].apns.key_file"))
        #expect(herald.isRunning)

        try workspace.writeConfiguration(keyFile: newKeyPath, keyID: newKeyID)
        herald.send(SIGHUP)
        #expect(await eventually { workspace.log.contains("credentials reloaded") }, "\(workspace.log)")
        let delivered = try await workspace.herald(["push-test", workspace.registration.node])
        #expect(delivered.status == 0, "\(delivered.output)")
        #expect(delivered.output.contains("\"outcome\":\"delivered\""))
        #expect(workspace.apns.requests.map(\.status) == [403, 200])
        #expect(workspace.apns.requests.last?.deviceToken == Self.deviceToken)

        #expect(workspace.server.acceptedConnections == 1, "the component connection stays up across reloads")
        let metrics = try await workspace.get("/metrics")
        #expect(metrics.body.contains(#"herald_vendor_requests_total{app="chat",vendor="apns",status="credentials",reason="InvalidProviderToken"} 1"#), "\(metrics.body)")
        #expect(metrics.body.contains(#"herald_vendor_requests_total{app="chat",vendor="apns",status="delivered",reason="delivered"} 1"#))
        #expect(metrics.body.contains("# HELP herald_vendor_requests_total "))
        #expect(metrics.body.contains(#"herald_build_info{version="\#(BuildInfo.releaseVersion)",commit="\#(BuildInfo.current.commit)""#))
        #expect(metrics.body.contains("herald_retry_queue_capacity 10000"))
        #expect(metrics.body.contains(#"herald_component_connected{domain="push.localhost"} 1"#))
        #expect(metrics.body.contains("herald_registrations 1"))

        herald.send(SIGTERM)
        #expect(await herald.waitForExit(timeout: .seconds(20)) == 0)
        #expect(!workspace.log.contains(Self.deviceToken), "no device token in the log")
        #expect(!workspace.log.contains(Self.adminToken), "no admin token in the log")
    }

    @Test func sigtermAnswersThePublishBeingDeliveredAndTurnsNewOnesAwayWithWait() async throws {
        let workspace = try await Workspace(apnsCredentials: try ExampleKeys.mockAPNsCredentials())
        defer { Task { await workspace.stop() } }
        workspace.apns.scriptDefault(.slow(milliseconds: 1500))
        try workspace.writeConfiguration()
        let herald = try await workspace.startHerald()
        defer { herald.terminate() }
        #expect(await eventually(timeout: .seconds(20)) { workspace.server.successfulHandshakes == 1 }, "\(workspace.log)")

        try await workspace.server.sendRaw(workspace.publish(id: "in-flight"))
        #expect(await eventually { workspace.apns.requestCount == 1 }, "the vendor has the push: \(workspace.log)")
        herald.send(SIGTERM)
        #expect(await eventually { workspace.log.contains("draining") }, "\(workspace.log)")
        try await workspace.server.sendRaw(workspace.publish(id: "after-sigterm"))

        let late = try await workspace.server.inbox.next("the late publish's answer") { $0[attribute: "id"] == "after-sigterm" }
        #expect(late[attribute: "type"] == "error")
        #expect(late.child("error")?[attribute: "type"] == "wait")
        let delivered = try await workspace.server.inbox.next("the in-flight publish's answer") { $0[attribute: "id"] == "in-flight" }
        #expect(delivered[attribute: "type"] == "result", "a publish already being delivered is answered with its result")
        #expect(await herald.waitForExit(timeout: .seconds(20)) == 0, "\(workspace.log)")
        #expect(workspace.apns.requestCount == 1, "the late publish never reached the vendor")
    }

    /// A network whose only way out is an HTTP proxy: `HTTPS_PROXY` sends the APNs connection through its
    /// CONNECT tunnel, and `NO_PROXY` naming the host sends it direct again.
    @Test(arguments: [false, true])
    func pushesGoOutThroughTheProxyThatHTTPSProxyNames(excluded: Bool) async throws {
        let workspace = try await Workspace(apnsCredentials: try ExampleKeys.mockAPNsCredentials())
        defer { Task { await workspace.stop() } }
        let credentials = "Basic " + Data("ops:pa ss@1".utf8).base64EncodedString()
        let proxy = try await ConnectProxy.start(requiredAuthorization: credentials)
        defer { Task { await proxy.stop() } }
        try workspace.writeConfiguration()
        var environment = ["HTTPS_PROXY": "http://ops:pa%20ss%401@127.0.0.1:\(proxy.port)"]
        if excluded { environment["NO_PROXY"] = "localhost,127.0.0.0/8" }
        let herald = try await workspace.startHerald(environment: environment)
        defer { herald.terminate() }
        #expect(await eventually(timeout: .seconds(20)) { workspace.server.successfulHandshakes == 1 }, "\(workspace.log)")

        try await workspace.server.sendRaw(workspace.publish(id: "through-proxy"))
        let reply = try await workspace.server.inbox.next("the publish's answer") { $0[attribute: "id"] == "through-proxy" }
        #expect(reply[attribute: "type"] == "result", "\(reply) \(workspace.log)")
        #expect(workspace.apns.requests.last?.deviceToken == Self.deviceToken)
        let apnsPort = try #require(URL(string: workspace.apns.url)?.port)
        if excluded {
            #expect(proxy.tunnels.isEmpty)
        } else {
            #expect(proxy.tunnels == [.init(target: "127.0.0.1:\(apnsPort)", authorization: credentials, status: 200)])
        }
        #expect(!workspace.log.contains("pa ss") && !workspace.log.contains("pa%20ss"), "the proxy password is never logged")
        herald.send(SIGTERM)
        #expect(await herald.waitForExit(timeout: .seconds(20)) == 0, "\(workspace.log)")
    }

    /// Publishes while the vendor answers 503 until the reply says "retrying"; the time of that answer.
    private func publishUntilQueued(_ workspace: Workspace, id: String) async throws -> Date {
        try await workspace.server.sendRaw(workspace.publish(id: id))
        let reply = try await workspace.server.inbox.next("the publish's answer") { $0[attribute: "id"] == id }
        #expect(reply.child("error")?[attribute: "type"] == "wait")
        #expect(reply.child("error")?.child("text")?.text.contains("retrying") == true, "\(reply)")
        return Date()
    }

    @Test func aRetryQueuedBeforeSIGKILLIsSentAfterTheRestart() async throws {
        let workspace = try await Workspace(apnsCredentials: try ExampleKeys.mockAPNsCredentials())
        defer { Task { await workspace.stop() } }
        workspace.apns.scriptDefault(.unavailable)
        // The first retry comes 2–4 s after the 503, so a busy test process kills Herald before it.
        try workspace.writeConfiguration(retryInitialDelay: "4s")
        let herald = try await workspace.startHerald()
        defer { herald.terminate() }
        #expect(await eventually(timeout: .seconds(20)) { workspace.server.successfulHandshakes == 1 }, "\(workspace.log)")
        _ = try await publishUntilQueued(workspace, id: "queued")
        herald.send(SIGKILL)
        #expect(await herald.waitForExit(timeout: .seconds(10)) != nil)
        #expect(workspace.apns.requestCount == 1)

        workspace.apns.scriptDefault(.success)
        let restarted = try await workspace.startHerald()
        defer { restarted.terminate() }
        #expect(
            await eventually(timeout: .seconds(20)) { workspace.apns.requests.contains { $0.status == 200 } },
            "the queued push reached the vendor after the restart: \(workspace.log)"
        )
        #expect(workspace.apns.requests.map(\.status) == [503, 200])
    }

    @Test func sigtermKeepsAQueuedRetryForTheNextStartAndItWaitsOutItsRetryAfter() async throws {
        let workspace = try await Workspace(apnsCredentials: try ExampleKeys.mockAPNsCredentials())
        defer { Task { await workspace.stop() } }
        workspace.apns.scriptDefault(.failure(status: 503, reason: "ServiceUnavailable", retryAfter: 5))
        try workspace.writeConfiguration()
        let herald = try await workspace.startHerald()
        defer { herald.terminate() }
        #expect(await eventually(timeout: .seconds(20)) { workspace.server.successfulHandshakes == 1 }, "\(workspace.log)")
        _ = try await publishUntilQueued(workspace, id: "queued")
        herald.send(SIGTERM)
        #expect(await herald.waitForExit(timeout: .seconds(20)) == 0, "\(workspace.log)")
        #expect(workspace.apns.requestCount == 1, "not fired early at shutdown")

        workspace.apns.scriptDefault(.success)
        let restarted = try await workspace.startHerald()
        defer { restarted.terminate() }
        #expect(await eventually(timeout: .seconds(20)) { workspace.apns.requests.contains { $0.status == 200 } }, "\(workspace.log)")
        // Both times are the mock's, taken as it answered: the 503's is no later than Herald heard it,
        // the 200's no earlier than Herald sent it, so a busy test process cannot shorten the gap.
        let refused = try #require(workspace.apns.requests.first { $0.status == 503 }).answeredAt
        let sent = try #require(workspace.apns.requests.first { $0.status == 200 }).answeredAt
        let waited = sent.timeIntervalSince(refused)
        #expect(waited >= 4.9, "sent \(waited) s after the 503 that asked for 5 s")
    }

    @Test(arguments: [
        ("key_file", "/nonexistent/AuthKey.p8", "apps[0].apns.key_file", "cannot read"),
        ("key_file", "BROKEN", "apps[0].apns.key_file", "is not an APNs authentication key"),
        ("key_id", "abc", "apps[0].apns.key_id", "is not 10 capital letters or digits"),
        ("topic", "", "apps[0].apns.topic", "is required"),
    ])
    func checkNamesTheKeyAndTheFix(key: String, value: String, expectedKey: String, problem: String) async throws {
        let workspace = try await Workspace(apnsCredentials: try ExampleKeys.mockAPNsCredentials())
        defer { Task { await workspace.stop() } }
        try workspace.writeConfiguration()
        var yaml = try String(contentsOfFile: workspace.configPath, encoding: .utf8)
        let brokenKey = workspace.directory.appendingPathComponent("broken.p8").path
        try "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n".write(toFile: brokenKey, atomically: true, encoding: .utf8)
        let replacement = value == "BROKEN" ? brokenKey : value
        yaml = yaml.split(separator: "\n", omittingEmptySubsequences: false).map { line in
            line.trimmingCharacters(in: .whitespaces).hasPrefix("\(key):") ? "      \(key): \"\(replacement)\"" : String(line)
        }.joined(separator: "\n")
        try yaml.write(toFile: workspace.configPath, atomically: true, encoding: .utf8)

        let result = try await workspace.herald(["check"])
        #expect(result.status == 78, "\(result.output)")
        #expect(result.output.contains(expectedKey), "\(result.output)")
        #expect(result.output.contains(problem), "\(result.output)")
        #expect(result.output.contains("("), "a fix follows the problem: \(result.output)")
    }

    @Test func checkAcceptsADatabaseFolderServeWillCreateAndRefusesOneItCannot() async throws {
        let workspace = try await Workspace(apnsCredentials: try ExampleKeys.mockAPNsCredentials())
        defer { Task { await workspace.stop() } }
        try workspace.writeConfiguration()
        let creatable = workspace.directory.appendingPathComponent("not/yet/there/herald.sqlite").path
        let fine = try await workspace.herald(["check", "--database", creatable])
        #expect(fine.status == 0, "\(fine.output)")
        #expect(!FileManager.default.fileExists(atPath: workspace.directory.appendingPathComponent("not").path), "check leaves nothing behind")
        // Nothing, not even root, can create folders in /proc.
        let impossible = try await workspace.herald(["check", "--database", "/proc/herald-check/herald.sqlite"])
        #expect(impossible.status == 78, "\(impossible.output)")
        #expect(impossible.output.contains("storage.path"))
        #expect(impossible.output.contains("cannot create the database in /proc/herald-check"))
    }

    @Test func checkFindsTheAdminPortInUseAndPassesAGoodConfiguration() async throws {
        let workspace = try await Workspace(apnsCredentials: try ExampleKeys.mockAPNsCredentials())
        defer { Task { await workspace.stop() } }
        try workspace.writeConfiguration()
        let good = try await workspace.herald(["check"])
        #expect(good.status == 0, "\(good.output)")
        #expect(good.output.contains("configuration OK"))

        // The fake XMPP server's port is taken: point the admin server at it.
        let taken = try await workspace.herald(["check", "--admin-port", "\(workspace.server.port)"])
        #expect(taken.status == 78, "\(taken.output)")
        #expect(taken.output.contains("admin.port"))
        #expect(taken.output.contains("is in use"))
        let skipped = try await workspace.herald(["check", "--admin-port", "\(workspace.server.port)", "--skip-port-check"])
        #expect(skipped.status == 0, "\(skipped.output)")

        // The UnifiedPush endpoint's port, the same way.
        let unifiedPush = [
            "--set", "unified_push.public_url=https://up.example.com", "--set", "unified_push.secret=a-secret-of-some-length",
            "--set", "unified_push.port=\(workspace.server.port)",
        ]
        let unifiedPushTaken = try await workspace.herald(["check"] + unifiedPush)
        #expect(unifiedPushTaken.status == 78, "\(unifiedPushTaken.output)")
        #expect(unifiedPushTaken.output.contains("unified_push.port: 127.0.0.1:\(workspace.server.port) is in use"), "\(unifiedPushTaken.output)")
        #expect(try await workspace.herald(["check", "--skip-port-check"] + unifiedPush).status == 0)
    }

    /// The README's "check, then reload": `check` against the configuration of the Herald running now.
    @Test func checkPassesWhileTheHeraldItChecksForRuns() async throws {
        let workspace = try await Workspace(apnsCredentials: try ExampleKeys.mockAPNsCredentials())
        defer { Task { await workspace.stop() } }
        try workspace.writeConfiguration()
        let herald = try await workspace.startHerald()
        defer { herald.terminate() }
        #expect(await eventually { (try? await workspace.get("/health"))?.status == 200 }, "\(workspace.log)")
        let running = try await workspace.herald(["check"])
        #expect(running.status == 0, "\(running.output)")
        #expect(running.output.contains("held by the running Herald"))
        #expect(running.output.contains("configuration OK"))
        // A broken key still fails the check while Herald runs.
        try workspace.writeConfiguration(keyFile: "/nonexistent/AuthKey.p8")
        let broken = try await workspace.herald(["check"])
        #expect(broken.status == 78, "\(broken.output)")
        #expect(broken.output.contains("apps[0].apns.key_file"), "\(broken.output)")
        herald.send(SIGTERM)
        #expect(await herald.waitForExit(timeout: .seconds(20)) == 0, "\(workspace.log)")
    }

    @Test func serveStopsWithAClearMessageWhenTheAdminPortIsTaken() async throws {
        let workspace = try await Workspace(apnsCredentials: try ExampleKeys.mockAPNsCredentials())
        defer { Task { await workspace.stop() } }
        try workspace.writeConfiguration()
        // The fake XMPP server's port is taken: point the admin server at it.
        let herald = try ChildProcess(
            path: HeraldBinary.path,
            arguments: ["serve", "--config", workspace.configPath, "--admin-port", "\(workspace.server.port)"],
            logPath: workspace.logPath
        )
        defer { herald.terminate() }
        #expect(await herald.waitForExit(timeout: .seconds(20)) == 1, "\(workspace.log)")
        #expect(workspace.log.contains("admin server cannot listen on 127.0.0.1:\(workspace.server.port): address in use"), "\(workspace.log)")
    }

    @Test func aJSONLogStaysJSONToTheFatalErrorThatEndsIt() async throws {
        let workspace = try await Workspace(apnsCredentials: try ExampleKeys.mockAPNsCredentials())
        defer { Task { await workspace.stop() } }
        try workspace.writeConfiguration()
        let herald = try ChildProcess(
            path: HeraldBinary.path,
            arguments: ["serve", "--config", workspace.configPath, "--admin-port", "\(workspace.server.port)", "--set", "log.format=json"],
            logPath: workspace.logPath
        )
        defer { herald.terminate() }
        #expect(await herald.waitForExit(timeout: .seconds(20)) == 1, "\(workspace.log)")
        let lines = workspace.log.split(separator: "\n").filter { !$0.isEmpty }
        let objects = lines.compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        #expect(!lines.isEmpty && objects.count == lines.count, "every line is a JSON object: \(workspace.log)")
        let last = try #require(objects.last)
        #expect(last["level"] as? String == "critical")
        #expect(last["message"] as? String == "herald stopped on an error")
        #expect((last["reason"] as? String)?.contains("address in use") == true, "\(last)")
    }
}
