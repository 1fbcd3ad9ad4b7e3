import Foundation
import HeraldBuildInfo
import HeraldCore
import MockVendors
import Testing
import Yams

@testable import HeraldApp

/// `deploy/kubernetes/`, parsed and held to the configuration it carries: the image, the probes and
/// ports, and every secret file the configuration names, present in the Secret and mounted where it says.
@Suite struct KubernetesManifestsTests {
    static let directory = ExampleKeys.root.deletingLastPathComponent().appendingPathComponent("deploy/kubernetes")

    static func document(_ name: String) throws -> [String: Any] {
        let text = try String(contentsOf: directory.appendingPathComponent(name), encoding: .utf8)
        return try #require(try Yams.load(yaml: text) as? [String: Any], "\(name)")
    }

    /// Every `(key path, value)` whose key ends in `_file`, anywhere in a configuration.
    static func fileKeys(_ node: Any, path: String = "") -> [(String, String)] {
        switch node {
        case let mapping as [String: Any]:
            return mapping.sorted { $0.key < $1.key }.flatMap { key, value -> [(String, String)] in
                let here = path.isEmpty ? key : "\(path).\(key)"
                if key.hasSuffix("_file"), let file = value as? String { return [(here, file)] }
                return fileKeys(value, path: here)
            }
        case let list as [Any]:
            return list.enumerated().flatMap { fileKeys($1, path: "\(path).\($0)") }
        default:
            return []
        }
    }

    private static func dig(_ node: Any?, _ path: String...) -> Any? {
        path.reduce(node) { node, key in
            if let index = Int(key) { return (node as? [Any]).flatMap { $0.indices.contains(index) ? $0[index] : nil } }
            return (node as? [String: Any])?[key]
        }
    }

    @Test func everyResourceTheKustomizationsListExistsAndParses() throws {
        for kustomization in ["kustomization.yaml", "postgres/kustomization.yaml"] {
            let document = try Self.document(kustomization)
            let base = URL(fileURLWithPath: kustomization, relativeTo: Self.directory).deletingLastPathComponent()
            for resource in document["resources"] as? [String] ?? [] {
                #expect(FileManager.default.fileExists(atPath: base.appendingPathComponent(resource).path), "\(kustomization): \(resource)")
                if resource.hasSuffix(".yaml") {
                    let parsed = try Self.document(resource)
                    #expect(parsed["apiVersion"] is String && parsed["kind"] is String, "\(resource)")
                }
            }
            for patch in document["patches"] as? [[String: Any]] ?? [] {
                if let path = patch["path"] as? String {
                    #expect(FileManager.default.fileExists(atPath: base.appendingPathComponent(path).path), "\(kustomization): \(path)")
                }
            }
        }
    }

    @Test func theDeploymentRunsThisReleaseNonRootReadOnlyAndProbesTheAdminServer() throws {
        let deployment = try Self.document("deployment.yaml")
        #expect(Self.dig(deployment, "spec", "replicas") as? Int == 1, "one process per SQLite database")
        #expect(Self.dig(deployment, "spec", "strategy", "type") as? String == "Recreate")
        let pod = try #require(Self.dig(deployment, "spec", "template", "spec") as? [String: Any])
        let container = try #require(Self.dig(pod, "containers", "0") as? [String: Any])
        #expect(container["image"] as? String == "herald:\(BuildInfo.releaseVersion)")

        let dockerfile = try String(contentsOf: Self.directory.deletingLastPathComponent().appendingPathComponent("Dockerfile"), encoding: .utf8)
        let uid = try #require(dockerfile.firstMatch(of: /--uid (\d+)/)?.output.1)
        #expect(Self.dig(pod, "securityContext", "runAsUser") as? Int == Int(uid))
        #expect(Self.dig(pod, "securityContext", "runAsNonRoot") as? Bool == true)
        #expect(Self.dig(container, "securityContext", "readOnlyRootFilesystem") as? Bool == true)
        #expect(Self.dig(container, "securityContext", "allowPrivilegeEscalation") as? Bool == false)
        #expect(Self.dig(container, "securityContext", "capabilities", "drop") as? [String] == ["ALL"])

        // The configuration the pod reads, and the port and probes agreeing with it.
        let configMap = try Self.document("configmap.yaml")
        let yaml = try #require(Self.dig(configMap, "data", "herald.yaml") as? String)
        let configuration = try #require(try Yams.load(yaml: yaml) as? [String: Any])
        let mounts = try #require(container["volumeMounts"] as? [[String: Any]])
        func mount(_ volume: String) -> String? { mounts.first { $0["name"] as? String == volume }?["mountPath"] as? String }
        let args = try #require(container["args"] as? [String])
        let configPath = try #require(args.firstIndex(of: "--config").map { args[$0 + 1] })
        #expect(configPath == "\(mount("config") ?? "?")/herald.yaml")
        #expect(Self.dig(configuration, "admin", "host") as? String == "0.0.0.0", "reachable by the kubelet's probes")
        let adminPort = try #require(Self.dig(configuration, "admin", "port") as? Int)
        #expect(Self.dig(container, "ports", "0", "name") as? String == "admin")
        #expect(Self.dig(container, "ports", "0", "containerPort") as? Int == adminPort)
        #expect(Self.dig(container, "livenessProbe", "httpGet", "path") as? String == "/health")
        #expect(Self.dig(container, "readinessProbe", "httpGet", "path") as? String == "/ready")
        for probe in ["livenessProbe", "readinessProbe", "startupProbe"] {
            #expect(Self.dig(container, probe, "httpGet", "port") as? String == "admin", "\(probe)")
        }
        let storagePath = try #require(Self.dig(configuration, "storage", "path") as? String)
        #expect(storagePath.hasPrefix((mount("data") ?? "?") + "/"), "the database is on the persistent volume")
        let drain = pod["terminationGracePeriodSeconds"] as? Int ?? 30
        #expect(drain > 25, "longer than xmpp.drain_timeout's default")

        let service = try Self.document("service.yaml")
        #expect(Self.dig(service, "spec", "ports", "0", "targetPort") as? String == "admin")
        let monitor = try Self.document("servicemonitor.yaml")
        #expect(Self.dig(monitor, "spec", "endpoints", "0", "port") as? String == "admin")
        #expect(Self.dig(monitor, "spec", "endpoints", "0", "path") as? String == "/metrics")
        let budget = try Self.document("poddisruptionbudget.yaml")
        #expect(Self.dig(budget, "spec", "selector", "matchLabels") as? [String: String] == Self.dig(deployment, "spec", "selector", "matchLabels") as? [String: String])
    }

    /// Each `*_file` names a key of the mounted Secret; with those files in place the configuration loads.
    @Test func everySecretFileTheConfigurationNamesIsInTheSecretAndTheConfigurationLoads() throws {
        let deployment = try Self.document("deployment.yaml")
        let container = try #require(Self.dig(deployment, "spec", "template", "spec", "containers", "0") as? [String: Any])
        let mounts = try #require(container["volumeMounts"] as? [[String: Any]])
        let secretsMount = try #require(mounts.first { $0["name"] as? String == "secrets" }?["mountPath"] as? String)
        let volumes = try #require(Self.dig(deployment, "spec", "template", "spec", "volumes") as? [[String: Any]])
        let secretName = try #require(volumes.first { $0["name"] as? String == "secrets" }.flatMap { Self.dig($0, "secret", "secretName") as? String })
        let secret = try Self.document("secret.example.yaml")
        #expect(Self.dig(secret, "metadata", "name") as? String == secretName)
        let keys = Set((secret["stringData"] as? [String: String] ?? [:]).keys)

        let yaml = try #require(Self.dig(try Self.document("configmap.yaml"), "data", "herald.yaml") as? String)
        var files = Self.fileKeys(try #require(try Yams.load(yaml: yaml)))
        let overlay = try Self.document("postgres/deployment.yaml")
        for variable in Self.dig(overlay, "spec", "template", "spec", "containers", "0", "env") as? [[String: String]] ?? [] where variable["name"]?.hasSuffix("_FILE") == true {
            files.append((variable["name"] ?? "", variable["value"] ?? ""))
        }
        #expect(files.count >= 7)
        let local = FileManager.default.temporaryDirectory.appendingPathComponent("herald-k8s-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: local, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: local) }
        let examples = [
            "apns_key.p8": ExampleKeys.apnsKeyPath, "fcm_service_account.json": ExampleKeys.fcmServiceAccountPath,
            "vapid_private.pem": ExampleKeys.vapidKeyPath,
        ]
        for (key, path) in files {
            #expect(path.hasPrefix(secretsMount + "/"), "\(key): \(path) is not in the mounted Secret")
            let name = String(path.dropFirst(secretsMount.count + 1))
            #expect(keys.contains(name), "\(key): the Secret has no \(name)")
            if let example = examples[name] {
                try FileManager.default.copyItem(atPath: example, toPath: local.appendingPathComponent(name).path)
            } else {
                try "0123456789abcdef0123456789abcdef".write(to: local.appendingPathComponent(name), atomically: true, encoding: .utf8)
            }
        }
        let configuration = try HeraldConfiguration(tree: try ConfigTree(yaml: yaml.replacingOccurrences(of: secretsMount + "/", with: local.path + "/")))
        #expect(configuration.apps.first?.app.services == [.apns, .fcm, .webpush])
        #expect(configuration.logFormat == .json)
    }

    @Test func thePostgresOverlayRunsSeveralReplicasOnTheSharedStore() throws {
        let overlay = try Self.document("postgres/deployment.yaml")
        #expect((Self.dig(overlay, "spec", "replicas") as? Int ?? 0) >= 2)
        #expect(Self.dig(overlay, "spec", "strategy", "type") as? String == "RollingUpdate")
        let env = Self.dig(overlay, "spec", "template", "spec", "containers", "0", "env") as? [[String: String]] ?? []
        #expect(env.contains { $0["name"] == "HERALD_STORAGE__ENGINE" && $0["value"] == "postgres" })
        #expect(env.contains { $0["name"] == "HERALD_STORAGE__POSTGRES__URL_FILE" })
    }
}
