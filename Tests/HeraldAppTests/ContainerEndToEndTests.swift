import AsyncHTTPClient
import Foundation
import HeraldHarness
import HeraldTesting
import MockVendors
import NIOCore
import NIOHTTP1
import Testing

/// Herald's container image, run with podman against a Prosody and a mock APNs on the host: it must
/// become ready and carry a real XEP-0357 push through to the vendor. `scripts/container-test.sh`
/// builds the image and runs this suite with `HERALD_CONTAINER_IMAGE` set; without it the suite is skipped.
private let containerImage = ProcessInfo.processInfo.environment["HERALD_CONTAINER_IMAGE"]

@Suite(
    .serialized,
    .enabled(if: containerImage != nil, "set HERALD_CONTAINER_IMAGE (scripts/container-test.sh builds the image)")
)
struct ContainerEndToEndTests {
    static let image = containerImage
    static let secret = "container-component-secret"
    /// podman as it works on these machines: runc, cgroupfs, explicit limits.
    static let podman = ["--runtime", "runc", "--cgroup-manager", "cgroupfs"]

    static func podman(_ arguments: [String], log: String) async throws -> Int32 {
        try await ChildProcess.run(path: "/usr/bin/podman", arguments: podman + arguments, logPath: log)
    }

    @Test func imageBecomesReadyAgainstTheHostProsodyAndCarriesAPushToTheMockVendor() async throws {
        let image = try #require(Self.image)
        let workspace = FileManager.default.temporaryDirectory.appendingPathComponent("herald-container-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: workspace, withIntermediateDirectories: true)
        // The image runs as an unprivileged user that must read the mounted configuration.
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: workspace.path)
        let podmanLog = workspace.appendingPathComponent("podman.log").path
        // The example key and the mock's CA, readable by the image's user whatever the checkout's modes.
        let keys = workspace.appendingPathComponent("keys")
        for file in ["apns/AuthKey_\(ExampleKeys.apnsKeyID).p8", "tls/mock-vendor.crt"] {
            let target = keys.appendingPathComponent(file)
            try FileManager.default.createDirectory(at: target.deletingLastPathComponent(), withIntermediateDirectories: true)
            try FileManager.default.copyItem(at: ExampleKeys.root.appendingPathComponent(file), to: target)
            try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: target.path)
        }
        for directory in [keys, keys.appendingPathComponent("apns"), keys.appendingPathComponent("tls")] {
            try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: directory.path)
        }

        let prosody = try ProsodyServer(components: [.init(domain: "push.localhost", secret: Self.secret)])
        for user in ["romeo", "juliet"] { try await prosody.register(user: user, password: "pass") }
        try await prosody.start()
        defer { prosody.terminate() }
        let apns = try await MockAPNsServer.start(
            certificateFile: ExampleKeys.tlsCertificatePath, privateKeyFile: ExampleKeys.tlsKeyPath,
            credentials: try ExampleKeys.mockAPNsCredentials()
        )
        let adminPort = try LoopbackPort.free()
        let configuration = """
            xmpp:
              port: \(prosody.componentPort)
              reconnect_initial_delay: 100ms
            components:
              - domain: push.localhost
                secret: \(Self.secret)
            apps:
              - name: chat
                apns:
                  topic: org.example.chat
                  key_file: /keys/apns/AuthKey_\(ExampleKeys.apnsKeyID).p8
                  key_id: \(ExampleKeys.apnsKeyID)
                  team_id: \(ExampleKeys.apnsTeamID)
                  production_url: \(apns.url)
                  sandbox_url: \(apns.url)
                  ca_file: /keys/tls/mock-vendor.crt
            storage:
              path: /var/lib/herald/herald.sqlite
            admin:
              host: 127.0.0.1
              port: \(adminPort)
            log:
              format: json
            """
        let configPath = workspace.appendingPathComponent("herald.yaml").path
        try configuration.write(toFile: configPath, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: configPath)

        let name = "herald-test-\(UUID().uuidString.prefix(8).lowercased())"
        let started = try await Self.podman([
            "run", "--detach", "--name", name, "--network", "host",
            "--ulimit", "nofile=10000:10000", "--ulimit", "nproc=1000:1000",
            "--volume", "\(configPath):/etc/herald/herald.yaml:ro",
            "--volume", "\(keys.path):/keys:ro",
            image,
        ], log: podmanLog)
        try #require(started == 0, "podman run: \((try? String(contentsOfFile: podmanLog, encoding: .utf8)) ?? "")")
        // The container goes however the test ends; `defer` cannot wait for podman.
        func exercise() async throws {
            func containerLog() async -> String {
                let path = workspace.appendingPathComponent("container-\(UUID().uuidString).log").path
                _ = try? await Self.podman(["logs", name], log: path)
                return (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
            }

            let ready = await eventually(timeout: .seconds(60), every: .milliseconds(250)) {
                guard let response = try? await HTTPClient.shared.execute(
                    HTTPClientRequest(url: "http://127.0.0.1:\(adminPort)/ready"), timeout: .seconds(5)
                ) else { return false }
                return response.status == .ok
            }
            if !ready { Issue.record("not ready; container log: \(await containerLog())") }
            try #require(ready)
            let healthLog = workspace.appendingPathComponent("health.log").path
            #expect(try await Self.podman(["healthcheck", "run", name], log: healthLog) == 0, "the image's HEALTHCHECK passes")

            let token = "c0" + String(repeating: "1", count: 62)
            let (client, _) = try await registerAndEnable("romeo", token: token, prosody: prosody)
            await client.close()
            try await sendMessage(to: "romeo", prosody: prosody)
            let pushed = await eventually(timeout: .seconds(20)) { apns.requests.contains { $0.deviceToken == token } }
            if !pushed { Issue.record("no push; container log: \(await containerLog())\nprosody: \(prosody.log.suffix(2000))") }
            let push = try #require(apns.requests.first { $0.deviceToken == token })
            #expect(push.status == 200)
            #expect(push.issuer == ExampleKeys.apnsTeamID)
            #expect(push.headers["apns-topic"] == "org.example.chat")

            let stopLog = workspace.appendingPathComponent("stop.log").path
            #expect(try await Self.podman(["stop", "--time", "20", name], log: stopLog) == 0)
            let log = await containerLog()
            #expect(log.contains("\"message\":\"herald stopped\""), "a clean stop on SIGTERM: \(log.suffix(2000))")
            #expect(!log.contains(token), "no device token in the container's log")
        }
        do {
            try await exercise()
        } catch {
            await removeContainer()
            throw error
        }
        await removeContainer()
        await apns.stop()

        func removeContainer() async {
            _ = try? await Self.podman(["rm", "--force", "--time", "20", name], log: podmanLog)
            try? FileManager.default.removeItem(at: workspace)
        }
    }
}
