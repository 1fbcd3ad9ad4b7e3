import Foundation
import PackagePlugin

/// Generates `GeneratedBuildInfo` for HeraldBuildInfo from the package's git HEAD and Package.resolved,
/// again whenever one of them changes.
@main
struct BuildInfoPlugin: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: any Target) async throws -> [Command] {
        let root = context.package.directoryURL
        let output = context.pluginWorkDirectoryURL.appendingPathComponent("GeneratedBuildInfo.swift")
        var inputs = [root.appendingPathComponent("Package.resolved")]
        let git = root.appendingPathComponent(".git")
        inputs.append(git.appendingPathComponent("HEAD"))
        inputs.append(git.appendingPathComponent("packed-refs"))
        if let head = try? String(contentsOf: git.appendingPathComponent("HEAD"), encoding: .utf8),
           head.hasPrefix("ref: ") {
            inputs.append(git.appendingPathComponent(head.dropFirst(5).trimmingCharacters(in: .whitespacesAndNewlines)))
        }
        return [
            .buildCommand(
                displayName: "Generating Herald's build information",
                executable: try context.tool(named: "BuildInfoGenerator").url,
                arguments: [root.path, output.path],
                // A build without .git (a container image) may name its commit.
                environment: ProcessInfo.processInfo.environment.filter { $0.key == "HERALD_COMMIT" },
                inputFiles: inputs.filter { FileManager.default.fileExists(atPath: $0.path) },
                outputFiles: [output]
            ),
        ]
    }
}
