import Foundation
import HeraldHarness

/// Runs a Python script against files, for checking Herald's output with independent
/// implementations (PyJWT, http_ece).
public enum PythonCheck {
    /// The interpreter: `HERALD_TEST_PYTHON`, else the virtual environment that
    /// `scripts/install-dependencies.sh` makes in `.venv`, else `python3` from the PATH.
    public static let interpreter: [String] = {
        if let configured = ProcessInfo.processInfo.environment["HERALD_TEST_PYTHON"], !configured.isEmpty {
            return [configured]
        }
        let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let venv = packageRoot.appendingPathComponent(".venv/bin/python3").path
        return FileManager.default.isExecutableFile(atPath: venv) ? [venv] : ["/usr/bin/env", "python3"]
    }()

    /// Runs the script at `script` with `arguments`, writing what it prints to `logPath`; returns the exit status.
    public static func run(scriptAt script: String, arguments: [String], logPath: String) async throws -> Int32 {
        try await ChildProcess.run(path: interpreter[0], arguments: Array(interpreter.dropFirst()) + [script] + arguments, logPath: logPath)
    }

    /// Writes `files` to a temporary folder, runs `script` with their paths as arguments, and returns
    /// the exit status and what it printed.
    public static func run(_ script: String, files: [Data]) async throws -> (status: Int32, output: String) {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("herald-python-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let scriptPath = directory.appendingPathComponent("check.py").path
        try script.write(toFile: scriptPath, atomically: true, encoding: .utf8)
        var arguments: [String] = []
        for (index, data) in files.enumerated() {
            let path = directory.appendingPathComponent("input\(index)").path
            try data.write(to: URL(fileURLWithPath: path))
            arguments.append(path)
        }
        let log = directory.appendingPathComponent("output").path
        let status = try await run(scriptAt: scriptPath, arguments: arguments, logPath: log)
        return (status, (try? String(contentsOfFile: log, encoding: .utf8)) ?? "")
    }
}
