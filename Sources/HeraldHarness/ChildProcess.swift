import Foundation
import Synchronization

/// A child process started with a clean signal mask and default dispositions, and no open file of
/// this process's but its standard input, output and error.
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
        // Nothing else of this process's: an inherited pipe or socket would stay open as long as the
        // child runs, and whoever waits for its end (a test runner reading a pipe) would wait too.
        _ = Self.addCloseFrom?(&actions, 3)

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
        Self.unreaped.withLock { unreaped in
            if !unreaped.killedAtExit {
                atexit { ChildProcess.killUnreaped() }
                unreaped.killedAtExit = true
            }
            unreaped.pids.insert(pid)
        }
    }

    /// glibc's `posix_spawn_file_actions_addclosefrom_np` (2.34 and later), which Swift's Glibc module
    /// does not declare (it needs `_GNU_SOURCE`); nil where the C library has none.
    private static let addCloseFrom: AddCloseFrom? = dlsym(nil, "posix_spawn_file_actions_addclosefrom_np").map {
        unsafeBitCast($0, to: AddCloseFrom.self)
    }
    private typealias AddCloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32

    /// Children not yet reaped, which this process kills (SIGKILL) when it exits. `terminate()` leaves
    /// its SIGKILL to a thread that dies with the process, so a server that ignored SIGTERM (a Prosody
    /// once did, for over half an hour) outlived the test run that started it. A PID stays here until
    /// it is reaped, and the kernel does not hand it to another process before then.
    private struct Unreaped {
        var pids: Set<pid_t> = []
        var killedAtExit = false
    }

    private static let unreaped = Mutex(Unreaped())

    static var unreapedPIDs: Set<pid_t> { unreaped.withLock { $0.pids } }

    private static func killUnreaped() {
        unreaped.withLock { unreaped in
            for pid in unreaped.pids { kill(pid, SIGKILL) }
        }
    }

    /// Whether the process is still running; reaps it if it has exited.
    public var isRunning: Bool { reap() == nil }

    /// Sends `signal` without waiting.
    public func send(_ signal: Int32) {
        kill(pid, signal)
    }

    /// Waits for the process to exit (at most `timeout`) and returns its exit status, or nil.
    ///
    /// It polls with `Task.sleep`: a blocking `waitpid` would hold one of the few cooperative threads
    /// (two on a two-core machine) that every other test in the process runs on.
    public func waitForExit(timeout: Duration = .seconds(10)) async -> Int32? {
        let deadline = ContinuousClock.now + timeout
        repeat {
            if let status = reap() { return status }
            try? await Task.sleep(for: .milliseconds(10))
        } while ContinuousClock.now < deadline
        return reap()
    }

    /// Sends SIGTERM, waits up to `timeout` for the exit, then SIGKILL.
    public func stop(timeout: Duration = .seconds(10)) async {
        guard isRunning else { return }
        kill(pid, SIGTERM)
        if await waitForExit(timeout: timeout) == nil {
            kill(pid, SIGKILL)
            _ = await waitForExit(timeout: .seconds(10))
        }
    }

    /// Sends SIGTERM now and returns; a thread of its own reaps the process, with SIGKILL after
    /// `timeout`. For cleanup where nothing can wait (`defer`, `deinit`) and nothing needs the exit.
    /// `then` runs on that thread after the exit.
    public func terminate(
        signal: Int32 = SIGTERM,
        timeout: Duration = .seconds(10),
        then afterExit: @escaping @Sendable () -> Void = {}
    ) {
        guard isRunning else { return afterExit() }
        kill(pid, signal)
        Thread.detachNewThread {
            let deadline = ContinuousClock.now + timeout
            while self.reap() == nil {
                if ContinuousClock.now >= deadline { kill(self.pid, SIGKILL) }
                usleep(10_000)
            }
            afterExit()
        }
    }

    /// Runs a command to completion and returns its exit status, or -1 if it ran past `timeout`
    /// (then it is killed).
    public static func run(
        path: String,
        arguments: [String],
        logPath: String? = nil,
        timeout: Duration = .seconds(120)
    ) async throws -> Int32 {
        let child = try ChildProcess(path: path, arguments: arguments, logPath: logPath)
        guard let status = await child.waitForExit(timeout: timeout) else {
            child.terminate(signal: SIGKILL)
            return -1
        }
        return status
    }

    /// The exit status (128 + the signal for a process a signal ended) once the process has exited (reaping it the first time), else nil. Kept, so
    /// that whichever caller reaps it, every later one still learns the status; -1 if it was reaped
    /// elsewhere.
    private func reap() -> Int32? {
        reaped.withLock { reaped in
            if let reaped { return reaped }
            var status: Int32 = 0
            switch waitpid(pid, &status, WNOHANG) {
            case 0: return nil
            case pid:
                let signal = status & 0x7F
                reaped = signal == 0 ? (status >> 8) & 0xFF : 128 + signal
            default: reaped = -1
            }
            Self.unreaped.withLock { _ = $0.pids.remove(pid) }
            return reaped
        }
    }

    private let reaped = Mutex<Int32?>(nil)
}
