import Foundation

/// A child process started with a clean signal mask and default dispositions.
///
/// Foundation's `Process` passes on the spawning thread's signal mask, and test runners' threads block
/// most signals, so a server started that way never sees the SIGTERM that should stop it.
public final class ChildProcess: Sendable {
    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    public let pid: pid_t

    /// Starts `path` with `arguments`, sending its standard output and error to `logPath` (or nowhere).
    /// `environment` is added to this process's own.
    public init(path: String, arguments: [String], environment: [String: String] = [:], logPath: String? = nil) throws {
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var emptyMask = sigset_t()
        sigemptyset(&emptyMask)
        var defaults = sigset_t()
        sigfillset(&defaults)
        posix_spawnattr_setsigmask(&attributes, &emptyMask)
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        let output = logPath ?? "/dev/null"
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, output, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)

        let argv = ([path] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var merged = ProcessInfo.processInfo.environment
        merged.merge(environment) { _, new in new }
        let envp = merged.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { envp.forEach { free($0) } }
        var pid: pid_t = 0
        let status = posix_spawn(&pid, path, &actions, &attributes, argv, envp)
        guard status == 0 else { throw Failure(description: "posix_spawn \(path) failed: \(status)") }
        self.pid = pid
    }

    /// Whether the process is still running; reaps it if it has exited.
    public var isRunning: Bool {
        var status: Int32 = 0
        return waitpid(pid, &status, WNOHANG) == 0
    }

    /// Sends `signal` without waiting.
    public func send(_ signal: Int32) {
        kill(pid, signal)
    }

    /// Waits for the process to exit (at most `timeout`) and returns its exit status, or nil.
    public func waitForExit(timeout: Duration = .seconds(10)) -> Int32? {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            var status: Int32 = 0
            if waitpid(pid, &status, WNOHANG) == pid { return (status >> 8) & 0xFF }
            usleep(10_000)
        }
        return nil
    }

    /// Sends SIGTERM, waits up to `timeout` for the exit, then SIGKILL.
    public func stop(timeout: Duration = .seconds(10)) {
        guard isRunning else { return }
        kill(pid, SIGTERM)
        let deadline = ContinuousClock.now + timeout
        while isRunning, ContinuousClock.now < deadline { usleep(10_000) }
        if isRunning {
            kill(pid, SIGKILL)
            var status: Int32 = 0
            waitpid(pid, &status, 0)
        }
    }

    /// Runs a command to completion and returns its exit status.
    public static func run(path: String, arguments: [String], logPath: String? = nil) throws -> Int32 {
        let child = try ChildProcess(path: path, arguments: arguments, logPath: logPath)
        var status: Int32 = 0
        waitpid(child.pid, &status, 0)
        return (status >> 8) & 0xFF
    }
}
