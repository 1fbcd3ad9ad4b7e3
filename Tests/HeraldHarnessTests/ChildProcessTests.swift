import Foundation
import Testing

@testable import HeraldHarness

/// A shell that ignores SIGTERM, as a server stuck in its shutdown does, then becomes `sleep` (an
/// ignored signal stays ignored across exec) once it has said so in its log.
private let ignoresSIGTERM = ["-c", "trap '' TERM; echo ready; exec sleep 60"]

/// Waits (at most 10 s) until `log` holds "ready": a signal sent earlier would reach the shell before its trap.
private func waitUntilReady(_ log: String) async throws {
    let deadline = ContinuousClock.now + .seconds(10)
    while ContinuousClock.now < deadline {
        if let text = try? String(contentsOfFile: log, encoding: .utf8), text.contains("ready") { return }
        try await Task.sleep(for: .milliseconds(10))
    }
    Issue.record("the child never said ready")
}

/// Whether `pid` is gone or a zombie (exited, not yet reaped by whoever adopted it), within 10 s.
private func hasExited(_ pid: pid_t) async throws -> Bool {
    let deadline = ContinuousClock.now + .seconds(10)
    while ContinuousClock.now < deadline {
        if kill(pid, 0) != 0, errno == ESRCH { return true }
        if let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let state = stat.split(separator: ")").last?.split(separator: " ").first, state == "Z"
        {
            return true
        }
        try await Task.sleep(for: .milliseconds(20))
    }
    return false
}

@Suite struct ChildProcessTests {
    @Test func aChildThatIgnoresSIGTERMIsKilledOnceStopRunsOutOfTime() async throws {
        let log = FileManager.default.temporaryDirectory.appendingPathComponent("herald-child-\(UUID()).log").path
        defer { try? FileManager.default.removeItem(atPath: log) }
        let child = try ChildProcess(path: "/bin/sh", arguments: ignoresSIGTERM, logPath: log)
        #expect(ChildProcess.unreapedPIDs.contains(child.pid))
        try await waitUntilReady(log)
        await child.stop(timeout: .milliseconds(300))
        #expect(await child.waitForExit(timeout: .zero) == 128 + SIGKILL)
        #expect(!ChildProcess.unreapedPIDs.contains(child.pid), "a reaped child is no longer one to kill at exit")
    }

    /// `terminate()` leaves its SIGKILL to a thread of this process: were the process to exit first, a
    /// child that ignored SIGTERM would outlive it, unless the process kills it on the way out.
    @Test func aChildStillRunningWhenThisProcessExitsIsKilled() async throws {
        let result = try await #require(processExitsWith: .success, observing: [\.standardOutputContent]) {
            let log = FileManager.default.temporaryDirectory.appendingPathComponent("herald-child-\(UUID()).log").path
            let child = try ChildProcess(path: "/bin/sh", arguments: ignoresSIGTERM, logPath: log)
            try await waitUntilReady(log)
            try? FileManager.default.removeItem(atPath: log)
            child.terminate(timeout: .seconds(60))
            print(child.pid)
            exit(EXIT_SUCCESS)
        }
        let output = String(decoding: result.standardOutputContent, as: UTF8.self)
        let pid = try #require(pid_t(output.trimmingCharacters(in: .whitespacesAndNewlines)), "printed: \(output)")
        let exited = try await hasExited(pid)
        #expect(exited, "the child \(pid) outlived the process that started it")
        if !exited { kill(pid, SIGKILL) }
    }
}
