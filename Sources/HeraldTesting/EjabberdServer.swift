import Foundation
import HeraldHarness

/// A real ejabberd (Debian's 23.01 package) started for a test, run straight from `erl` as a
/// non-distributed node with its own configuration and Mnesia folder: no epmd, no ejabberdctl, no
/// system service. Loopback ports chosen at run time, no TLS; stopped by PID.
///
/// ejabberd publishes `type='submit'` summaries without `message-count` and drops a registration at the
/// first error reply that is not `wait`: the server Herald's replies matter most to.
public final class EjabberdServer: @unchecked Sendable {
    // @unchecked: `process` is set in start() and read in stop(); tests call them from one task in order.
    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    public let host = "localhost"
    public let directory: URL
    public let clientPort: Int
    public let componentPort: Int
    public let component: ProsodyServer.Component
    private var process: ChildProcess?

    public init(component: ProsodyServer.Component) throws {
        self.component = component
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("herald-ejabberd-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory.appendingPathComponent("spool"), withIntermediateDirectories: true)
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

    /// Whether Debian's ejabberd is installed (scripts/install-dependencies.sh installs it).
    public static var isInstalled: Bool { libraryFolder != nil }

    /// The folder holding `ejabberd-<version>/ebin/ejabberd.app`, for ERL_LIBS.
    static var libraryFolder: String? {
        ["/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/usr/lib/erlang/lib"].first { folder in
            let entries = (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
            return entries.contains { $0.hasPrefix("ejabberd-") && FileManager.default.fileExists(atPath: "\(folder)/\($0)/ebin/ejabberd.app") }
        }
    }

    public var configurationPath: String { directory.appendingPathComponent("ejabberd.yml").path }
    public var logPath: String { directory.appendingPathComponent("ejabberd.log").path }
    /// The server's log, for diagnosing a failed test.
    public var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    func writeConfiguration() throws {
        let configuration = """
            hosts:
              - \(host)
            loglevel: info
            listen:
              -
                port: \(clientPort)
                ip: "127.0.0.1"
                module: ejabberd_c2s
              -
                port: \(componentPort)
                ip: "127.0.0.1"
                module: ejabberd_service
                hosts:
                  \(component.domain):
                    password: \(component.secret)
            auth_method: internal
            auth_password_format: plain
            acl:
              local:
                user_regexp: ""
            access_rules:
              local:
                allow: local
            modules:
              mod_roster: {}
              mod_disco: {}
              mod_ping: {}
              mod_offline: {}
              mod_stream_mgmt:
                resume_timeout: 60
              mod_push:
                include_body: true

            """
        try configuration.write(toFile: configurationPath, atomically: true, encoding: .utf8)
    }

    /// Starts ejabberd with `users` (all with `password`) and waits until it accepts connections on both
    /// ports.
    public func start(users: [String], password: String, timeout: Duration = .seconds(60)) async throws {
        guard let libraries = Self.libraryFolder else { throw Failure(description: "ejabberd is not installed") }
        try writeConfiguration()
        let registrations = users.map { "ejabberd_auth:try_register(<<\"\($0)\">>, <<\"\(host)\">>, <<\"\(password)\">>)" }
        // One scheduler that sleeps when idle: by default the VM runs one per core and spins them between
        // tasks, which starved the rest of the suite running beside it on two cores.
        var arguments = [
            "+S", "1:1", "+sbwt", "none", "+sbwtdcpu", "none", "+sbwtdio", "none",
            "-noinput", "-noshell", "-mnesia", "dir", "\"\(directory.appendingPathComponent("spool").path)\"", "-s", "ejabberd",
        ]
        if !registrations.isEmpty { arguments += ["-eval", registrations.joined(separator: ", ")] }
        let process = try ChildProcess(
            path: "/usr/bin/erl",
            arguments: arguments,
            environment: [
                "ERL_LIBS": libraries,
                "EJABBERD_CONFIG_PATH": configurationPath,
                "EJABBERD_LOG_PATH": logPath,
                "HOME": directory.path,
            ],
            logPath: directory.appendingPathComponent("erl.out").path
        )
        self.process = process
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            guard process.isRunning else {
                throw Failure(description: "ejabberd exited early: \(log.suffix(2000))")
            }
            let ready = log.contains("127.0.0.1:\(componentPort) for ejabberd_service") && log.contains("127.0.0.1:\(clientPort) for ejabberd_c2s")
            if ready, await ProsodyServer.accepts(port: clientPort), await ProsodyServer.accepts(port: componentPort) {
                // The accounts are created right after start; give the -eval a moment to finish.
                try await Task.sleep(for: .milliseconds(300))
                return
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        await stop()
        throw Failure(description: "ejabberd did not open its ports within \(timeout): \(log.suffix(2000))")
    }

    /// Stops ejabberd by its PID and waits for it to exit (for a restart on the same ports).
    public func stop() async {
        await process?.stop()
        process = nil
    }

    /// Stops ejabberd by its PID without waiting: SIGTERM now, reaped (or killed) in the background.
    /// For cleanup in a `defer`.
    public func terminate() {
        process?.terminate()
        process = nil
    }
}
