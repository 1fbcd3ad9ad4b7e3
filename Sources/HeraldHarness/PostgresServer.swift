import Foundation
import Synchronization

/// A throwaway PostgreSQL cluster (Debian's package) for tests and benchmarks: `initdb` in a temp folder,
/// then the server itself on a free loopback port, its socket in the same folder, trust authentication
/// for loopback only. Stopped by PID; the folder goes with it.
///
/// PostgreSQL refuses to run as root, so under root the cluster belongs to the `postgres` user that the
/// Debian package creates, and the server runs as that user (`setpriv`, which execs: the PID is the server's).
public final class PostgresServer: Sendable {
    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    public let directory: URL
    public let port: Int
    /// Durable as in production (fsync on), for the benchmark; tests run without fsync.
    public let durable: Bool
    private let process = Mutex<ChildProcess?>(nil)
    private let databases = Atomic<Int>(0)

    public init(durable: Bool = false) throws {
        guard Self.binaries != nil else { throw Failure(description: "PostgreSQL is not installed") }
        self.durable = durable
        // Under /tmp rather than a runner's temporary folder, which the postgres user may not enter.
        directory = URL(fileURLWithPath: "/tmp/herald-postgres-\(UUID().uuidString)")
        port = try LoopbackPort.free()
    }

    deinit {
        // SIGINT is PostgreSQL's fast shutdown. The folder goes once the server has gone: removing
        // it first would have a still running server write its shutdown checkpoint into nothing.
        let folder = directory
        if let server = process.withLock({ $0 }), server.isRunning {
            server.terminate(signal: SIGINT) { try? FileManager.default.removeItem(at: folder) }
        } else {
            try? FileManager.default.removeItem(at: folder)
        }
    }

    /// The folder of Debian's PostgreSQL programs (the newest version installed).
    static var binaries: String? {
        let versions = (try? FileManager.default.contentsOfDirectory(atPath: "/usr/lib/postgresql")) ?? []
        return versions.sorted { (Int($0) ?? 0) < (Int($1) ?? 0) }.reversed().map { "/usr/lib/postgresql/\($0)/bin" }
            .first { FileManager.default.isExecutableFile(atPath: "\($0)/postgres") }
    }

    /// Whether Debian's PostgreSQL is installed (scripts/install-dependencies.sh installs it).
    public static var isInstalled: Bool { binaries != nil }

    private var runAsPostgres: Bool { getuid() == 0 }

    /// The server's PID while it runs (its backends are its children).
    public var pid: pid_t? { process.withLock { $0?.pid } }

    public var logPath: String { directory.appendingPathComponent("postgres.log").path }
    /// The server's log, for diagnosing a failed test.
    public var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    /// A URL for `database` as the superuser, which trust authentication lets in without a password.
    public func url(database: String = "postgres") -> String {
        "postgres://postgres@127.0.0.1:\(port)/\(database)?sslmode=disable"
    }

    /// One server for the whole test process, started on first use and stopped when the process exits;
    /// tests take a database each (`makeDatabase`).
    public static func shared() async throws -> PostgresServer {
        try await sharedServer.value
    }

    private static let sharedServer = Task<PostgresServer, any Error> {
        let server = try PostgresServer()
        try await server.start()
        sharedPID.store(server.process.withLock { $0?.pid ?? 0 }, ordering: .relaxed)
        sharedDirectory.withLock { $0 = server.directory.path }
        atexit {
            let pid = PostgresServer.sharedPID.load(ordering: .relaxed)
            guard pid > 0 else { return }
            // SIGINT is PostgreSQL's fast shutdown: it disconnects clients (this process's own, still
            // open here) where SIGTERM would wait for them to leave.
            kill(pid, SIGINT)
            var status: Int32 = 0
            waitpid(pid, &status, 0)
            if let folder = PostgresServer.sharedDirectory.withLock({ $0 }) { try? FileManager.default.removeItem(atPath: folder) }
        }
        return server
    }

    private static let sharedPID = Atomic<Int32>(0)
    private static let sharedDirectory = Mutex<String?>(nil)

    /// Creates the cluster and starts the server; returns once it accepts connections.
    public func start(timeout: Duration = .seconds(60)) async throws {
        guard let binaries = Self.binaries else { throw Failure(description: "PostgreSQL is not installed") }
        let data = directory.appendingPathComponent("data").path
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        if runAsPostgres {
            guard await ChildProcess.exitStatus(path: "/bin/chown", arguments: ["postgres:postgres", directory.path]) == 0 else {
                throw Failure(description: "cannot give \(directory.path) to the postgres user")
            }
        }
        let initdb = try await run(
            "\(binaries)/initdb", ["-D", data, "-U", "postgres", "--auth=trust", "--no-sync", "-E", "UTF8", "--locale=C"]
        )
        guard initdb == 0 else { throw Failure(description: "initdb failed (\(initdb)): \(log.suffix(2000))") }
        var settings = [
            "-D", data, "-p", "\(port)", "-k", directory.path, "-c", "listen_addresses=127.0.0.1", "-c", "max_connections=200",
            "-c", "shared_buffers=128MB",
        ]
        if !durable { settings += ["-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"] }
        let server = try spawn("\(binaries)/postgres", settings)
        process.withLock { $0 = server }
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            guard server.isRunning else { throw Failure(description: "postgres exited early: \(log.suffix(2000))") }
            if try await run("\(binaries)/pg_isready", ["-h", "127.0.0.1", "-p", "\(port)", "-U", "postgres", "-q"]) == 0 { return }
            try await Task.sleep(for: .milliseconds(100))
        }
        await stop()
        throw Failure(description: "postgres did not accept connections within \(timeout): \(log.suffix(2000))")
    }

    /// A new, empty database: each test gets its own on one server.
    public func makeDatabase() async throws -> String {
        guard let binaries = Self.binaries else { throw Failure(description: "PostgreSQL is not installed") }
        let name = "herald_\(getpid())_\(databases.add(1, ordering: .relaxed).newValue)"
        let status = try await run("\(binaries)/psql", ["-h", "127.0.0.1", "-p", "\(port)", "-U", "postgres", "-q", "-c", "CREATE DATABASE \(name)"])
        guard status == 0 else { throw Failure(description: "CREATE DATABASE failed (\(status)): \(log.suffix(1000))") }
        return name
    }

    /// Runs one SQL statement with psql and returns what it printed (unaligned, tuples only).
    public func psql(_ sql: String, database: String) async throws -> String {
        guard let binaries = Self.binaries else { throw Failure(description: "PostgreSQL is not installed") }
        let output = directory.appendingPathComponent("psql-\(UUID().uuidString).out").path
        defer { try? FileManager.default.removeItem(atPath: output) }
        let status = try await ChildProcess.run(
            path: "\(binaries)/psql",
            arguments: ["-h", "127.0.0.1", "-p", "\(port)", "-U", "postgres", "-d", database, "-At", "-c", sql],
            logPath: output
        )
        let printed = (try? String(contentsOfFile: output, encoding: .utf8)) ?? ""
        guard status == 0 else { throw Failure(description: "psql failed (\(status)): \(printed)") }
        return printed.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Stops the server by its PID: SIGINT (a fast shutdown, which disconnects clients), then
    /// SIGKILL after ten seconds.
    public func stop() async {
        let server = process.withLock { process in
            defer { process = nil }
            return process
        }
        guard let server, server.isRunning else { return }
        server.send(SIGINT)
        if await server.waitForExit(timeout: .seconds(10)) == nil { await server.stop(timeout: .zero) }
    }

    private func spawn(_ program: String, _ arguments: [String]) throws -> ChildProcess {
        if runAsPostgres {
            return try ChildProcess(
                path: "/usr/bin/setpriv",
                arguments: ["--reuid=postgres", "--regid=postgres", "--init-groups", "--", program] + arguments,
                logPath: logPath
            )
        }
        return try ChildProcess(path: program, arguments: arguments, logPath: logPath)
    }

    private func run(_ program: String, _ arguments: [String]) async throws -> Int32 {
        let child = try spawn(program, arguments)
        guard let status = await child.waitForExit(timeout: .seconds(60)) else {
            child.terminate(signal: SIGKILL)
            return -1
        }
        return status
    }
}

extension ChildProcess {
    /// Runs a command to completion; -1 if it could not start.
    static func exitStatus(path: String, arguments: [String]) async -> Int32 {
        (try? await ChildProcess.run(path: path, arguments: arguments, logPath: nil)) ?? -1
    }
}
