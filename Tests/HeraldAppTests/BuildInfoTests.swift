import Foundation
import HeraldBuildInfo
import HeraldHarness
import HeraldTesting
import Testing

@Suite struct BuildInfoTests {
    private static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    @Test func theCommitIsTheCheckoutsHead() throws {
        guard FileManager.default.fileExists(atPath: Self.root.appendingPathComponent(".git").path) else { return }
        let git = Process()
        git.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        git.arguments = ["git", "-C", Self.root.path, "rev-parse", "HEAD"]
        let pipe = Pipe()
        git.standardOutput = pipe
        try git.run()
        git.waitUntilExit()
        let head = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(git.terminationStatus == 0)
        #expect(BuildInfo.current.commit == head)
    }

    @Test func everyPinnedPackageIsListedWithItsResolvedVersion() throws {
        let data = try Data(contentsOf: Self.root.appendingPathComponent("Package.resolved"))
        let root = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let pins = try #require(root["pins"] as? [[String: Any]])
        #expect(pins.count == BuildInfo.current.packages.count)
        for pin in pins {
            let identity = try #require(pin["identity"] as? String)
            let state = try #require(pin["state"] as? [String: Any])
            if let version = state["version"] as? String {
                #expect(BuildInfo.current.version(of: identity) == version, "\(identity)")
            }
        }
        #expect(BuildInfo.current.version(of: "swift-nio") != "unknown")
        #expect(BuildInfo.current.version(of: "no-such-package") == "unknown")
    }

    @Test func theBinaryPrintsItsVersionCommitAndPackages() async throws {
        let log = FileManager.default.temporaryDirectory.appendingPathComponent("herald-version-\(UUID().uuidString)").path
        let child = try ChildProcess(path: HeraldBinary.path, arguments: ["--version"], logPath: log)
        defer { child.terminate() }
        #expect(await child.waitForExit(timeout: .seconds(30)) == 0)
        let lines = try String(contentsOfFile: log, encoding: .utf8).split(separator: "\n").map(String.init)
        #expect(lines.first == "herald \(BuildInfo.releaseVersion) (commit \(BuildInfo.current.commit))")
        #expect(lines.contains("  swift-nio-ssl \(BuildInfo.current.version(of: "swift-nio-ssl"))"))
    }

    @Test func versionTextStartsWithTheVersionAndCommitThenOnePackagePerLine() {
        let info = BuildInfo(version: "1.2.3", commit: "abc", packages: [.init(identity: "swift-nio", version: "2.0.0")])
        #expect(info.versionText == "herald 1.2.3 (commit abc)\n  swift-nio 2.0.0")
        #expect(info.metricLabels.first { $0.0 == "swift_nio" }?.1 == "2.0.0")
        #expect(info.metricLabels.first { $0.0 == "swift_crypto" }?.1 == "unknown")
    }
}
