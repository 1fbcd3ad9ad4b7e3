import Foundation
import HeraldTesting
import Testing

@testable import HeraldHarness

/// A shell that ignores SIGTERM, as a server stuck in its shutdown does, then becomes `sleep` (an
/// ignored signal stays ignored across exec) once it has said so in its log.
private let ignoresSIGTERM = ["-c", "trap '' TERM; echo ready; exec sleep 60"]

private func temporaryLog() -> String {
    FileManager.default.temporaryDirectory.appendingPathComponent("herald-child-\(UUID()).log").path
}

/// Waits until `log` holds "ready": a signal sent earlier would reach the shell before its trap.
private func waitUntilReady(_ log: String) async throws {
    let ready = await eventually(timeout: .seconds(10)) {
        (try? String(contentsOfFile: log, encoding: .utf8))?.contains("ready") == true
    }
    try #require(ready, "the child never said ready")
}

/// Whether `pid` is gone or a zombie (exited, not yet reaped by whoever adopted it).
private func hasExited(_ pid: pid_t) -> Bool {
    if kill(pid, 0) != 0, errno == ESRCH { return true }
    guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8) else { return true }
    return stat.split(separator: ")").last?.split(separator: " ").first == "Z"
}

@Suite struct ChildProcessTests {
    @Test func aChildThatIgnoresSIGTERMIsKilledOnceStopRunsOutOfTime() async throws {
        let log = temporaryLog()
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
            let log = temporaryLog()
            let child = try ChildProcess(path: "/bin/sh", arguments: ignoresSIGTERM, logPath: log)
            try await waitUntilReady(log)
            try? FileManager.default.removeItem(atPath: log)
            child.terminate(timeout: .seconds(60))
            print(child.pid)
            exit(EXIT_SUCCESS)
        }
        let output = String(decoding: result.standardOutputContent, as: UTF8.self)
        let pid = try #require(pid_t(output.trimmingCharacters(in: .whitespacesAndNewlines)), "printed: \(output)")
        let exited = await eventually(timeout: .seconds(10)) { hasExited(pid) }
        #expect(exited, "the child \(pid) outlived the process that started it")
        if !exited { kill(pid, SIGKILL) }
    }

    /// A descriptor open here without close-on-exec (a test runner's pipe to an exit test is one) is not
    /// the child's: it would stay open for as long as the child ran.
    @Test func aChildHoldsNoOpenFileButItsStandardStreams() async throws {
        var ends: [Int32] = [-1, -1]
        try #require(pipe(&ends) == 0)
        defer { ends.forEach { close($0) } }
        let log = temporaryLog()
        defer { try? FileManager.default.removeItem(atPath: log) }
        let child = try ChildProcess(path: "/bin/sh", arguments: ["-c", "ls /proc/$$/fd"], logPath: log)
        #expect(await child.waitForExit(timeout: .seconds(10)) == 0)
        let listed = try String(contentsOfFile: log, encoding: .utf8).split(whereSeparator: \.isNewline)
        #expect(Set(listed.map(String.init)) == ["0", "1", "2"], "the child's descriptors: \(listed)")
    }
}
