import ArgumentParser
import Crypto
import Foundation
import HeraldCore
import HeraldHTTP2
import HeraldHarness
import HeraldPostgres
import HeraldSQLite
import Logging
import MockVendors
import NIOCore
import NIOSSL
import PostgresNIO
import VendorSupport

/// The whole path, measured: a load generator plays the XMPP server over XEP-0114, Herald runs as its
/// own process (so its CPU time and memory can be read), and the mock APNs runs as a third process.
struct PathBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "path",
        abstract: "Measure publishes/s, latency, CPU and memory of the whole path against a mock APNs over HTTP/2 + TLS."
    )

    @Option(help: "Publishes per throughput scenario.") var publishes = 50_000
    @Option(help: "Seconds of the fixed-rate latency scenarios.") var rateSeconds = 10
    @Option(help: "Registrations in the large scenarios.") var largeRegistrations = 1_000_000
    @Option(help: "Publishes in the sustained FCM scenario.") var sustainedPublishes = 200_000
    @Option(help: "Run only scenarios whose name contains this.") var only: String?
    @Option(help: "The store each scenario runs on: sqlite, postgres (a durable throwaway cluster, fsync on), or both.")
    var store: StoreChoice = .sqlite
    @Flag(help: "A small, quick run (CI smoke test).") var quick = false
    @Option(help: "Write the JSON report here too.") var json: String?

    enum StoreChoice: String, ExpressibleByArgument, CaseIterable {
        case sqlite, postgres, both
    }

    enum Engine: String {
        case sqlite, postgres
    }

    struct Scenario {
        var name: String
        var engine = Engine.sqlite
        var registrations: Int
        var window: Int?
        var rate: Int?
        var publishes: Int
        var deadPercent = 0
        var delayMilliseconds = 0
        var burst = false
        var vendor = PushVendor.apns
    }

    func run() async throws {
        let binary = try heraldBinary()
        let small = quick ? 1_000 : 1_000
        let large = quick ? 10_000 : largeRegistrations
        let count = quick ? 2_000 : publishes
        let rateCount = (quick ? 2 : rateSeconds) * 1000
        let rate5kCount = (quick ? 1 : rateSeconds) * 5000
        var scenarios = [
            Scenario(name: "window 1, 1k registrations", registrations: small, window: 1, publishes: min(count, quick ? 500 : 10_000)),
            Scenario(name: "window 100, 1k registrations", registrations: small, window: 100, publishes: count),
            Scenario(name: "window 1000, 1k registrations", registrations: small, window: 1000, publishes: count),
            Scenario(name: "steady 1000/s, 1k registrations", registrations: small, rate: 1000, publishes: rateCount),
            Scenario(name: "window 1000, \(large / 1000)k registrations", registrations: large, window: 1000, publishes: count),
            Scenario(name: "steady 1000/s, \(large / 1000)k registrations", registrations: large, rate: 1000, publishes: rateCount),
            // An ordinary deployment's load: nothing to batch, every publish pays its own wake-ups.
            Scenario(name: "steady 5000/s, 1k registrations", registrations: small, rate: 5000, publishes: rate5kCount),
            Scenario(name: "steady 5000/s, \(large / 1000)k registrations", registrations: large, rate: 5000, publishes: rate5kCount),
            Scenario(name: "steady 5000/s, 5% dead tokens", registrations: small, rate: 5000, publishes: rate5kCount, deadPercent: 5),
            Scenario(name: "steady 5000/s, FCM", registrations: small, rate: 5000, publishes: rate5kCount, vendor: .fcm),
            Scenario(name: "window 100, 5% dead tokens", registrations: small, window: 100, publishes: count, deadPercent: 5),
            Scenario(name: "window 1000, vendor answers after 20 ms", registrations: small, window: 1000, publishes: count, delayMilliseconds: 20),
            // Each publish of a burst is answered with the verdict on the push at the end of its burst, so
            // replies come about once per coalescing window (1 s): a small count says all there is.
            Scenario(name: "window 100, burst on one node", registrations: small, window: 100, publishes: quick ? 500 : 3_000, burst: true),
            // Vendor connections under sustained traffic: FCM answers every success with a body.
            Scenario(
                name: "sustained FCM, 5% dead tokens, window 100", registrations: quick ? 1_000 : 10_000, window: 100,
                publishes: quick ? 5_000 : sustainedPublishes, deadPercent: 5, vendor: .fcm
            ),
        ]
        if let only { scenarios = scenarios.filter { $0.name.contains(only) } }
        let engines: [Engine] = switch store {
        case .sqlite: [.sqlite]
        case .postgres: [.postgres]
        case .both: [.sqlite, .postgres]
        }
        scenarios = scenarios.flatMap { scenario in
            engines.map { engine in
                var copy = scenario
                copy.engine = engine
                if engines.count > 1 || engine == .postgres { copy.name += ", \(engine.rawValue)" }
                return copy
            }
        }
        // Stopped at the end; on an error the server's deinit stops it.
        let postgres = engines.contains(.postgres) ? try await startPostgres() : nil

        let workspace = FileManager.default.temporaryDirectory.appendingPathComponent("herald-path-bench-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: workspace, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: workspace) }

        print("machine: \(ProcessInfo.processInfo.activeProcessorCount) cores, \(ProcessInfo.processInfo.physicalMemory / 1_073_741_824) GiB; herald \(binary)")
        var rows: [[String: Any]] = []
        var table: [[String]] = []
        for scenario in scenarios {
            let row = try await measure(scenario, binary: binary, workspace: workspace, postgres: postgres)
            rows.append(row)
            table.append([
                scenario.name,
                format(row["publishes_per_second"] as? Double ?? 0),
                format(row["p50_ms"] as? Double ?? 0, decimals: 2), format(row["p90_ms"] as? Double ?? 0, decimals: 2),
                format(row["p99_ms"] as? Double ?? 0, decimals: 2), format(row["max_ms"] as? Double ?? 0, decimals: 1),
                format(row["herald_cpu_us_per_publish"] as? Double ?? 0, decimals: 1),
                format(row["mock_cpu_us_per_publish"] as? Double ?? 0, decimals: 1),
                format(row["generator_cpu_us_per_publish"] as? Double ?? 0, decimals: 1),
                row["postgres_cpu_us_per_publish"].map { format($0 as? Double ?? 0, decimals: 1) } ?? "-",
                row["postgres_transactions_per_publish"].map { format($0 as? Double ?? 0, decimals: 2) } ?? "-",
                format(row["herald_peak_rss_mb"] as? Double ?? 0, decimals: 1),
                row["replies"] as? String ?? "",
            ])
            printTable(table)
        }
        await postgres?.stop()
        let ceiling = try await mockCeiling(binary: binary, workspace: workspace)
        print("\nmock APNs ceiling (direct HTTP/2 load, 4 connections, 1000 in flight): \(format(ceiling)) requests/s")
        let report: [String: Any] = ["scenarios": rows, "mock_ceiling_requests_per_second": ceiling]
        let data = try JSONSerialization.data(withJSONObject: report, options: [.sortedKeys])
        print("JSON " + String(decoding: data, as: UTF8.self))
        if let json { try data.write(to: URL(fileURLWithPath: json)) }
    }

    private func printTable(_ table: [[String]]) {
        printAligned(
            header: ["scenario", "publishes/s", "p50 ms", "p90 ms", "p99 ms", "max ms", "Herald CPU µs", "mock CPU µs", "generator CPU µs", "PostgreSQL CPU µs", "PG xacts", "peak RSS MB", "replies"],
            rows: table
        )
    }

    // MARK: One scenario

    private func measure(_ scenario: Scenario, binary: String, workspace: URL, postgres: PostgresServer?) async throws -> [String: Any] {
        let batch = registrations(scenario.registrations, deadPercent: scenario.deadPercent, service: scenario.vendor)
        var storage: [String: String]
        var postgresDatabase: String?
        switch scenario.engine {
        case .sqlite:
            let database = workspace.appendingPathComponent("regs-\(scenario.vendor.rawValue)-\(scenario.registrations)-\(scenario.deadPercent).sqlite").path
            if !FileManager.default.fileExists(atPath: database) || scenario.deadPercent > 0 {
                try? FileManager.default.removeItem(atPath: database)
                try await SQLiteRegistrationStore(path: database).saveAll(batch)
            }
            storage = ["HERALD_STORAGE__PATH": database]
        case .postgres:
            guard let postgres else { throw BenchmarkError("no PostgreSQL server") }
            let database = try await postgres.makeDatabase()
            try await fillPostgres(url: postgres.url(database: database), batch)
            postgresDatabase = database
            storage = ["HERALD_STORAGE__ENGINE": "postgres", "HERALD_STORAGE__POSTGRES__URL": postgres.url(database: database)]
        }
        let mockPortFile = workspace.appendingPathComponent("mock.port").path
        let fcmPortFile = workspace.appendingPathComponent("fcm.port").path
        let statsFile = workspace.appendingPathComponent("mock-stats.json").path
        for file in [mockPortFile, fcmPortFile, statsFile] { try? FileManager.default.removeItem(atPath: file) }
        var mockArguments = [
            "mock-vendor", "--quiet", "--port-file", mockPortFile, "--apns-key", ExampleKeys.apnsKeyPath, "--dead-token-prefix", "dead",
            "--fcm-dead-token-prefix", "dead", "--fcm-port-file", fcmPortFile, "--stats-file", statsFile,
        ]
        if scenario.delayMilliseconds > 0 { mockArguments += ["--delay-ms", String(scenario.delayMilliseconds)] }
        let mock = try ChildProcess(path: binary, arguments: mockArguments, logPath: workspace.appendingPathComponent("mock.log").path)
        // Stopped (and waited for) before the figures are read; the defer covers an error on the way.
        defer { mock.terminate() }
        guard let mockPort = await waitForFile(mockPortFile).flatMap({ Int($0) }),
            let fcmPort = await waitForFile(fcmPortFile).flatMap({ Int($0) })
        else { throw BenchmarkError("mock vendor did not start") }

        let generator = try await LoadGenerator.start(secret: "bench-component-secret", publishSecret: "bench-publish-secret")
        defer { Task { await generator.stop() } }
        var environment = [
            "HERALD_XMPP__PORT": String(generator.port),
            "HERALD_COMPONENTS__0__DOMAIN": "push.bench",
            "HERALD_COMPONENTS__0__SECRET": generator.secret,
            "HERALD_APPS__0__NAME": "bench",
            "HERALD_ADMIN__PORT": "0",
            // Every publish goes to the vendor: coalescing is measured by its own scenario.
            "HERALD_DELIVERY__COALESCING_WINDOW": scenario.burst ? "1s" : "0s",
            "HERALD_LOG__LEVEL": "warning",
        ]
        environment.merge(storage) { a, _ in a }
        environment.merge(MockVendorEnvironment.apns(url: "https://127.0.0.1:\(mockPort)", topic: "org.example.bench")) { a, _ in a }
        if scenario.vendor == .fcm {
            environment.merge(MockVendorEnvironment.fcm(url: "https://127.0.0.1:\(fcmPort)")) { a, _ in a }
        }
        let launched = ContinuousClock.now
        let herald = try ChildProcess(path: binary, arguments: ["serve"], environment: environment, logPath: workspace.appendingPathComponent("herald.log").path)
        defer { herald.terminate() }
        guard let connected = await generator.waitForHandshake(timeout: .seconds(30)) else {
            throw BenchmarkError("herald did not connect; see \(workspace.path)/herald.log")
        }
        let startup = (connected - launched).seconds
        try await Task.sleep(for: .milliseconds(500))
        let idleRSS = ProcessStats(pid: herald.pid).residentMB

        // Warm up connections, caches and the JIT-less code paths before measuring.
        let warmUp = try await generator.run(.init(publishes: min(scenario.burst ? 200 : 2000, scenario.publishes), window: 100, registrations: scenario.registrations, burst: scenario.burst, timeLimit: .seconds(60)))
        var transactionsBefore: Int?
        if let postgresDatabase { transactionsBefore = try await committedTransactions(postgres, database: postgresDatabase) }
        let postgresBefore = postgres?.pid.map { ProcessStats(processTree: $0) }
        let before = ProcessStats(pid: herald.pid)
        let mockBefore = ProcessStats(pid: mock.pid)
        let generatorBefore = ProcessStats(pid: getpid())
        let result = try await generator.run(.init(
            publishes: scenario.publishes, window: scenario.window, rate: scenario.rate,
            registrations: scenario.registrations, burst: scenario.burst, timeLimit: .seconds(600)
        ))
        let after = ProcessStats(pid: herald.pid)
        let mockAfter = ProcessStats(pid: mock.pid)
        let generatorAfter = ProcessStats(pid: getpid())
        let postgresAfter = postgres?.pid.map { ProcessStats(processTree: $0) }
        // Percentiles reports in milliseconds when fed microseconds.
        let latencies = Percentiles(result.latenciesNanoseconds.map { $0 / 1000 })
        let replies = result.results + result.errors.values.reduce(0, +)
        let cpu = (after.cpuSeconds - before.cpuSeconds) / Double(max(1, replies)) * 1e6
        // Where the machine's CPU went: all three processes share the cores.
        let mockCPU = (mockAfter.cpuSeconds - mockBefore.cpuSeconds) / Double(max(1, replies)) * 1e6
        let generatorCPU = (generatorAfter.cpuSeconds - generatorBefore.cpuSeconds) / Double(max(1, replies)) * 1e6
        var postgresFigures: [String: Any] = [:]
        if let postgresBefore, let postgresAfter, let postgresDatabase, let transactionsBefore {
            postgresFigures["postgres_cpu_us_per_publish"] = (postgresAfter.cpuSeconds - postgresBefore.cpuSeconds) / Double(max(1, replies)) * 1e6
            // The statistics collector publishes a backend's counts within a second of its last transaction.
            try await Task.sleep(for: .milliseconds(1500))
            let transactions = try await committedTransactions(postgres, database: postgresDatabase) - transactionsBefore
            postgresFigures["postgres_transactions_per_publish"] = Double(transactions) / Double(max(1, replies))
        }
        var summary = "\(result.results) ok"
        for (condition, count) in result.errors.sorted(by: { $0.key < $1.key }) { summary += ", \(count) \(condition)" }
        if replies < result.sent { summary += ", \(result.sent - replies) unanswered" }
        // What the vendor saw, from the mock's own count (warm-up included): a push the vendor accepted
        // beyond the publishes answered `result` was sent twice. Timeouts and lost answers come back
        // as wait/internal-server-error, or not at all.
        await herald.stop()
        await mock.stop()
        let stats = (try? JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: statsFile)))) as? [String: Int] ?? [:]
        let vendorRequests = scenario.vendor == .fcm ? (stats["fcm_accepted"] ?? 0) + (stats["fcm_refused"] ?? 0) : stats["apns_requests"] ?? 0
        let timeouts = (result.errors["internal-server-error"] ?? 0) + (result.sent - replies)
        // FCM accepted more pushes than publishes were answered `result`: a push went out twice. Fewer:
        // publishes for a node whose push was in flight rode on the next push, which answered them all.
        var duplicates: Int?
        var carried = 0
        if scenario.vendor == .fcm {
            let surplus = (stats["fcm_accepted"] ?? 0) - (warmUp.results + result.results)
            duplicates = max(0, surplus)
            carried = max(0, -surplus)
        }
        summary += "; vendor requests \(vendorRequests) (warm-up included), timeouts \(timeouts)"
        if let duplicates { summary += ", duplicates \(duplicates), results carried by another's push \(carried)" }
        return postgresFigures.merging([
            "scenario": scenario.name,
            "store": scenario.engine.rawValue,
            "registrations": scenario.registrations,
            "publishes": result.sent,
            "publishes_per_second": Double(replies) / result.seconds,
            "p50_ms": latencies.value(0.5), "p90_ms": latencies.value(0.9),
            "p99_ms": latencies.value(0.99), "max_ms": latencies.value(1.0),
            "herald_cpu_us_per_publish": cpu,
            "mock_cpu_us_per_publish": mockCPU,
            "generator_cpu_us_per_publish": generatorCPU,
            "herald_peak_rss_mb": after.peakMB,
            "herald_idle_rss_mb": idleRSS,
            "startup_to_connected_seconds": startup,
            "replies": summary,
            "vendor_requests": vendorRequests,
            "timeouts": timeouts,
            "duplicate_requests": duplicates ?? 0,
        ]) { a, _ in a }
    }

    /// Registrations whose node is `n<index>`; `deadPercent` of the tokens start with `dead`, which the
    /// mock answers with 410.
    private func registrations(_ count: Int, deadPercent: Int, service: PushVendor) -> [Registration] {
        let now = Date()
        return (0..<count).map { index in
            let dead = deadPercent > 0 && index % 100 < deadPercent
            let hex = String(index, radix: 16)
            let token = (dead ? "dead" : "beef") + String(repeating: "0", count: 60 - hex.count) + hex
            return Registration(
                node: LoadHandler.node(index), secret: "bench-publish-secret", app: "bench", service: service, dialect: .p2,
                token: token, environment: .production, accountDomain: "bench.example",
                accountKey: "account-\(index)", deviceKey: "device-\(index)", createdAt: now
            )
        }
    }

    /// A durable cluster, as production runs one: fsync and synchronous commit on.
    private func startPostgres() async throws -> PostgresServer {
        let server = try PostgresServer(durable: true)
        try await server.start()
        return server
    }

    private func fillPostgres(url: String, _ batch: [Registration]) async throws {
        var quiet = Logger(label: "herald-bench.postgres")
        quiet.logLevel = .error
        let client = PostgresClient(configuration: try PostgresSettings(url: url).clientConfiguration(), backgroundLogger: quiet)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await client.run() }
            let store = PostgresRegistrationStore(client: client, logger: quiet)
            for start in stride(from: 0, to: batch.count, by: 10_000) {
                try await store.saveAll(Array(batch[start..<min(batch.count, start + 10_000)]))
            }
            group.cancelAll()
        }
    }

    /// Transactions committed in `database` so far (each statement Herald sends outside a transaction is one).
    private func committedTransactions(_ server: PostgresServer?, database: String) async throws -> Int {
        guard let server else { return 0 }
        return Int(try await server.psql("SELECT xact_commit FROM pg_stat_database WHERE datname = '\(database)'", database: "postgres")) ?? 0
    }

    private func waitForFile(_ path: String) async -> String? {
        for _ in 0..<500 {
            if let text = try? String(contentsOfFile: path, encoding: .utf8), !text.isEmpty { return text }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return nil
    }

    // MARK: The mock's own ceiling

    private func mockCeiling(binary: String, workspace: URL) async throws -> Double {
        let portFile = workspace.appendingPathComponent("ceiling.port").path
        let mock = try ChildProcess(path: binary, arguments: ["mock-vendor", "--quiet", "--port-file", portFile, "--apns-key", ExampleKeys.apnsKeyPath], logPath: "/dev/null")
        defer { mock.terminate() }
        guard let port = await waitForFile(portFile).flatMap({ Int($0) }) else { throw BenchmarkError("mock vendor did not start") }
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.trustRoots = .file(ExampleKeys.tlsCertificatePath)
        let client = try HTTP2Client(configuration: .init(host: "127.0.0.1", port: port, tls: tls, connections: 4))
        defer { Task { await client.shutdown() } }
        let key = try ExampleKeys.apnsKey()
        let jwt = try JWT.sign(
            header: #"{"alg":"ES256","kid":"\#(ExampleKeys.apnsKeyID)"}"#,
            claims: #"{"iss":"\#(ExampleKeys.apnsTeamID)","iat":\#(Int(Date().timeIntervalSince1970))}"#,
            with: .es256(key)
        )
        let request = HTTP2Request(
            path: "/3/device/" + String(repeating: "ab", count: 32),
            headers: [("apns-push-type", "alert"), ("apns-priority", "10"), ("apns-topic", "org.example.bench"), ("authorization", "bearer " + jwt)],
            body: ByteBuffer(string: #"{"aps":{"alert":{"title":"New message"}}}"#)
        )
        _ = try await client.execute(request)
        let duration: Duration = quick ? .seconds(1) : .seconds(5)
        let started = ContinuousClock.now
        let completed = try await withThrowingTaskGroup(of: Int.self) { group in
            for _ in 0..<1000 {
                group.addTask {
                    var done = 0
                    while ContinuousClock.now - started < duration {
                        _ = try await client.execute(request)
                        done += 1
                    }
                    return done
                }
            }
            return try await group.reduce(0, +)
        }
        let rate = Double(completed) / (ContinuousClock.now - started).seconds
        await mock.stop()
        return rate
    }
}

/// CPU time and memory of a process, from /proc.
struct ProcessStats {
    var cpuSeconds: Double
    var residentMB: Double
    var peakMB: Double

    /// The CPU time of `pid` and its children as they are now: PostgreSQL's server and its backends
    /// (whose memory is shared and not summed).
    init(processTree pid: pid_t) {
        let children = ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).compactMap { Int32($0) }.filter { child in
            let stat = (try? String(contentsOfFile: "/proc/\(child)/stat", encoding: .utf8)) ?? ""
            let fields = stat.split(separator: ")").last.map { $0.split(separator: " ") } ?? []
            return fields.count > 1 && Int32(fields[1]) == pid
        }
        let own = ProcessStats(pid: pid)
        cpuSeconds = children.map { ProcessStats(pid: $0).cpuSeconds }.reduce(own.cpuSeconds, +)
        residentMB = own.residentMB
        peakMB = own.peakMB
    }

    init(pid: pid_t) {
        let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
        let stat = (try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)) ?? ""
        // Fields after the command name (which may contain spaces) start at ") ".
        let fields = stat.split(separator: ")").last.map { $0.split(separator: " ") } ?? []
        let utime = fields.count > 12 ? Double(fields[11]) ?? 0 : 0
        let stime = fields.count > 12 ? Double(fields[12]) ?? 0 : 0
        cpuSeconds = (utime + stime) / ticks
        let status = (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? ""
        func kilobytes(_ key: String) -> Double {
            guard let line = status.split(separator: "\n").first(where: { $0.hasPrefix(key) }) else { return 0 }
            return Double(line.split(separator: " ").dropFirst().first ?? "0") ?? 0
        }
        residentMB = kilobytes("VmRSS:") / 1024
        peakMB = kilobytes("VmHWM:") / 1024
    }
}
