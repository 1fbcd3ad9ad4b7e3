import Foundation
import NIOCore
import NIOPosix
import Synchronization

/// A real Prosody (Debian's package) started for a test or the benchmark: its own folder, loopback ports
/// chosen at run time, no s2s, no TLS. Stopped by PID.
public final class ProsodyServer: @unchecked Sendable {
    // @unchecked: `process` is set in start() and read in stop(); tests call them from one task in order.
    public struct Component: Sendable {
        public var domain: String
        public var secret: String

        public init(domain: String, secret: String) {
            self.domain = domain
            self.secret = secret
        }
    }

    public struct Failure: Error, CustomStringConvertible {
        public let description: String
        var portTaken = false
    }

    public let host = "localhost"
    public let directory: URL
    public private(set) var clientPort: Int
    public private(set) var componentPort: Int
    public let components: [Component]
    private var process: ChildProcess?

    /// Modules on top of Prosody's defaults. cloud_notify comes from Debian's prosody-modules.
    public var modules = ["roster", "saslauth", "disco", "ping", "carbons", "smacks", "mam", "offline", "cloud_notify", "posix"]
    /// Extra global configuration lines (Lua).
    public var extraGlobalConfiguration = ""
    /// The lowest level written to its log: tests read debug lines; the benchmark must not pay for them.
    public var logLevel = "debug"

    public init(components: [Component]) throws {
        self.components = components
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("herald-prosody-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory.appendingPathComponent("data"), withIntermediateDirectories: true)
        clientPort = try LoopbackPort.free()
        componentPort = try LoopbackPort.free()
    }

    deinit {
        let folder = directory
        if let process {
            process.terminate { try? FileManager.default.removeItem(at: folder) }
        } else {
            try? FileManager.default.removeItem(at: folder)
        }
    }

    public var configurationPath: String { directory.appendingPathComponent("prosody.cfg.lua").path }
    public var logPath: String { directory.appendingPathComponent("prosody.log").path }

    public func writeConfiguration() throws {
        let modules = self.modules.map { "\"\($0)\"" }.joined(separator: ", ")
        var configuration = """
            daemonize = false
            run_as_root = true
            pidfile = "\(directory.path)/prosody.pid"
            data_path = "\(directory.path)/data"
            plugin_paths = { "/usr/lib/prosody/modules/mod_cloud_notify", "/usr/lib/prosody-modules" }
            log = { \(logLevel) = "\(logPath)" }
            interfaces = { "127.0.0.1" }
            c2s_ports = { \(clientPort) }
            c2s_interfaces = { "127.0.0.1" }
            component_ports = { \(componentPort) }
            component_interfaces = { "127.0.0.1" }
            s2s_ports = { }
            http_ports = { }
            https_ports = { }
            c2s_direct_tls_ports = { }
            modules_enabled = { \(modules) }
            modules_disabled = { "s2s", "tls" }
            smacks_hibernation_time = 60
            c2s_require_encryption = false
            allow_unencrypted_plain_auth = true
            authentication = "internal_plain"
            storage = "internal"
            archive_expires_after = "1d"
            push_max_errors = 16
            \(extraGlobalConfiguration)

            VirtualHost "\(host)"

            """
        for component in components {
            configuration += """

                Component "\(component.domain)"
                    component_secret = "\(component.secret)"

                """
        }
        try configuration.write(toFile: configurationPath, atomically: true, encoding: .utf8)
    }

    /// Starts Prosody and waits until both ports accept connections. If another process took one of
    /// the ports in the meantime, a first start moves to fresh ports; a restart keeps its ports (the
    /// component under test is configured with them) and tries again after a pause. Three tries.
    public func start(timeout: Duration = .seconds(15)) async throws {
        for attempt in 1...3 {
            do {
                try await startOnce(timeout: timeout)
                hasStarted = true
                return
            } catch let failure as Failure where failure.portTaken && attempt < 3 {
                if hasStarted {
                    try await Task.sleep(for: .milliseconds(500))
                } else {
                    clientPort = try LoopbackPort.free()
                    componentPort = try LoopbackPort.free()
                }
            }
        }
    }

    private var hasStarted = false

    private func startOnce(timeout: Duration) async throws {
        // A fresh log, so a failure seen on an earlier attempt is not read again.
        try? FileManager.default.removeItem(atPath: logPath)
        try writeConfiguration()
        let errorLog = directory.appendingPathComponent("prosody.stderr")
        let process = try ChildProcess(path: "/usr/bin/prosody", arguments: ["--config", configurationPath], logPath: errorLog.path)
        self.process = process
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if !process.isRunning {
                let stderr = (try? String(contentsOf: errorLog, encoding: .utf8)) ?? ""
                throw Failure(description: "prosody exited early: \(stderr)")
            }
            if await Self.accepts(port: clientPort), await Self.accepts(port: componentPort) { return }
            if let line = log.split(separator: "\n").first(where: { $0.contains("Failed to open server port") }) {
                await stop()
                throw Failure(description: "a port was taken before prosody could bind it: \(line)", portTaken: true)
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        await stop()
        throw Failure(description: "prosody did not open its ports within \(timeout)")
    }

    /// Stops Prosody by its PID and waits for it to exit (for a restart on the same ports).
    public func stop() async {
        await process?.stop()
        process = nil
    }

    /// Stops Prosody by its PID without waiting: SIGTERM now, reaped (or killed) in the background.
    /// For cleanup in a `defer`.
    public func terminate() {
        process?.terminate()
        process = nil
    }

    public var isRunning: Bool { process?.isRunning ?? false }

    /// Its process id while it runs (for its CPU time).
    public var pid: pid_t? { process?.pid }

    /// Creates a user account with prosodyctl.
    public func register(user: String, password: String) async throws {
        try writeConfiguration()
        let status = try await ChildProcess.run(
            path: "/usr/bin/prosodyctl",
            arguments: ["--config", configurationPath, "register", user, host, password]
        )
        guard status == 0 else { throw Failure(description: "prosodyctl register exited with \(status)") }
    }

    /// The server's log, for diagnosing a failed test.
    public var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    /// Whether something accepts TCP connections on the loopback port.
    public static func accepts(port: Int) async -> Bool {
        do {
            let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .connectTimeout(.milliseconds(200))
                .connect(host: "127.0.0.1", port: port).get()
            try? await channel.close()
            return true
        } catch {
            return false
        }
    }
}
