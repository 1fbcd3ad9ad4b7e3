import Foundation
import HeraldHarness

/// Runs a Python script against files, for checking Herald's output with independent
/// implementations (PyJWT, http_ece).
public enum PythonCheck {
    /// Writes `files` to a temporary folder, runs `script` with their paths as arguments, and returns
    /// the exit status and what it printed.
    public static func run(_ script: String, files: [Data]) throws -> (status: Int32, output: String) {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("herald-python-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let scriptPath = directory.appendingPathComponent("check.py").path
        try script.write(toFile: scriptPath, atomically: true, encoding: .utf8)
        var arguments = [scriptPath]
        for (index, data) in files.enumerated() {
            let path = directory.appendingPathComponent("input\(index)").path
            try data.write(to: URL(fileURLWithPath: path))
            arguments.append(path)
        }
        let log = directory.appendingPathComponent("output").path
        let status = try ChildProcess.run(path: "/usr/bin/env", arguments: ["python3"] + arguments, logPath: log)
        return (status, (try? String(contentsOfFile: log, encoding: .utf8)) ?? "")
    }
}
