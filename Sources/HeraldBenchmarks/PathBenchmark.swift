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
        /// With `rate`: one publish per write, evenly apart (`LoadGenerator.Run.spaced`).
        var spaced = false
        /// `xmpp.read_interval` for Herald, if not its default.
        var readInterval: String?
        var publishes: Int
        var deadPercent = 0
        var delayMilliseconds = 0
        var burst = false
        var vendor = PushVendor.apns
        /// Through a real Prosody, beside Prosody's own routing ceiling (an echo component in Herald's place).
        var throughProsody = false
    }

    func run() async throws {
        let binary = try heraldBinary()
        let small = quick ? 1_000 : 1_000
        let large = quick ? 10_000 : largeRegistrations
        let count = quick ? 2_000 : publishes
        let rateCount = (quick ? 2 : rateSeconds) * 1000
        let rate5kCount = (quick ? 1 : rateSeconds) * 5000
        let rate2kCount = (quick ? 1 : rateSeconds) * 2000
        var scenarios = [
            Scenario(name: "window 1, 1k registrations", registrations: small, window: 1, publishes: min(count, quick ? 500 : 10_000)),
            Scenario(name: "window 100, 1k registrations", registrations: small, window: 100, publishes: count),
            Scenario(name: "window 1000, 1k registrations", registrations: small, window: 1000, publishes: count),
            Scenario(name: "steady 1000/s, 1k registrations", registrations: small, rate: 1000, publishes: rateCount),
            Scenario(name: "window 1000, \(large / 1000)k registrations", registrations: large, window: 1000, publishes: count),
            Scenario(name: "steady 1000/s, \(large / 1000)k registrations", registrations: large, rate: 1000, publishes: rateCount),
            // Each millisecond's five publishes leave the generator in one write, as a busy server's do.
            Scenario(name: "steady 5000/s, 1k registrations", registrations: small, rate: 5000, publishes: rate5kCount),
            // An ordinary deployment's load: a server that is not busy sends each publish as it happens, so
            // there is nothing to batch unless Herald waits for more (`xmpp.read_interval`, off by default).
            Scenario(name: "spaced 5000/s, 1k registrations", registrations: small, rate: 5000, spaced: true, publishes: rate5kCount),
            Scenario(
                name: "spaced 5000/s, 1k registrations, reads paced 1ms", registrations: small, rate: 5000, spaced: true,
                readInterval: "1ms", publishes: rate5kCount
            ),
            Scenario(name: "steady 5000/s, \(large / 1000)k registrations", registrations: large, rate: 5000, publishes: rate5kCount),
            Scenario(name: "steady 5000/s, 5% dead tokens", registrations: small, rate: 5000, publishes: rate5kCount, deadPercent: 5),
            Scenario(name: "steady 5000/s, FCM", registrations: small, rate: 5000, publishes: rate5kCount, vendor: .fcm),
            Scenario(name: "window 100, 5% dead tokens", registrations: small, window: 100, publishes: count, deadPercent: 5),
            Scenario(name: "window 1000, vendor answers after 20 ms", registrations: small, window: 1000, publishes: count, delayMilliseconds: 20),
            // Each publish of a burst is answered with the verdict on the push at the end of its burst, so
            // replies come about once per coalescing window (1 s): a small count says all there is.
            Scenario(name: "window 100, burst on one node", registrations: small, window: 100, publishes: quick ? 500 : 3_000, burst: true),
            // Behind one Prosody, alternating with Prosody's own routing ceiling: Herald must not be what limits it.
            Scenario(name: "through Prosody, window 500", registrations: small, window: 500, publishes: quick ? 2_000 : count, throughProsody: true),
            // Behind a Prosody that is not at its limit, publishes sent to it one by one: whether they reach
            // Herald one by one too, and what pacing Herald's reads does there.
            Scenario(name: "through Prosody, spaced 2000/s", registrations: small, rate: 2000, spaced: true, publishes: rate2kCount, throughProsody: true),
            Scenario(
                name: "through Prosody, spaced 2000/s, reads paced 1ms", registrations: small, rate: 2000, spaced: true, readInterval: "1ms",
                publishes: rate2kCount, throughProsody: true
            ),
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
            let row = scenario.throughProsody
                ? try await measureThroughProsody(scenario, binary: binary, workspace: workspace)
                : try await measure(scenario, binary: binary, workspace: workspace, postgres: postgres)
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
        print("\nbench vendor alone (direct HTTP/2 load from this process, 4 connections, 1000 in flight): \(format(ceiling.rate)) requests/s at \(format(ceiling.cpuMicroseconds, decimals: 1)) µs of its CPU each")
        let failed = rows.filter { ($0["checks_passed"] as? Bool) == false }.compactMap { $0["scenario"] as? String }
        if !failed.isEmpty { print("CHECKS FAILED in: " + failed.joined(separator: ", ")) }
        let report: [String: Any] = [
            "scenarios": rows, "mock_ceiling_requests_per_second": ceiling.rate, "mock_ceiling_cpu_us_per_request": ceiling.cpuMicroseconds,
        ]
        let data = try JSONSerialization.data(withJSONObject: report, options: [.sortedKeys])
        print("JSON " + String(decoding: data, as: UTF8.self))
        if let json { try data.write(to: URL(fileURLWithPath: json)) }
        if !failed.isEmpty { throw ExitCode.failure }
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
        let statsFile = workspace.appendingPathComponent("mock-stats.json").path
        for file in [mockPortFile, statsFile] { try? FileManager.default.removeItem(atPath: file) }
        let mock = try BenchVendor.start(portFile: mockPortFile, statsFile: statsFile, delayMilliseconds: scenario.delayMilliseconds, workspace: workspace)
        // Stopped (and waited for) before the figures are read; the defer covers an error on the way.
        defer { mock.process.terminate() }
        guard let mockPort = await waitForFile(mockPortFile).flatMap({ Int($0) }) else { throw BenchmarkError("bench vendor did not start") }
        let fcmPort = mockPort

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
        if let readInterval = scenario.readInterval { environment["HERALD_XMPP__READ_INTERVAL"] = readInterval }
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
        let warmUp = try await generator.run(.init(
            publishes: min(scenario.burst ? 200 : 2000, scenario.publishes), window: 100, registrations: scenario.registrations,
            burst: scenario.burst, timeLimit: .seconds(60), deadPercent: scenario.deadPercent
        ))
        let vendorBefore = try await mock.snapshot()
        var transactionsBefore: Int?
        if let postgresDatabase { transactionsBefore = try await committedTransactions(postgres, database: postgresDatabase) }
        let postgresBefore = postgres?.pid.map { ProcessStats(processTree: $0) }
        let before = ProcessStats(pid: herald.pid)
        let mockBefore = ProcessStats(pid: mock.process.pid)
        let generatorBefore = ProcessStats(pid: getpid())
        let result = try await generator.run(.init(
            publishes: scenario.publishes, window: scenario.window, rate: scenario.rate, spaced: scenario.spaced,
            registrations: scenario.registrations, burst: scenario.burst, timeLimit: .seconds(600), deadPercent: scenario.deadPercent
        ))
        let after = ProcessStats(pid: herald.pid)
        let mockAfter = ProcessStats(pid: mock.process.pid)
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
        // What the vendor saw during the measured run, from its own counts.
        let vendorAfter = try await mock.snapshot()
        await herald.stop()
        await mock.process.stop()
        let vendor = vendorAfter.since(vendorBefore)
        let vendorRequests = scenario.vendor == .fcm ? vendor.fcmRequests : vendor.apnsRequests
        let accepted = scenario.vendor == .fcm ? vendor.fcmAccepted : vendor.apnsAccepted
        let acceptedIndexSum = scenario.vendor == .fcm ? vendor.fcmTokenSum : vendor.apnsTokenSum
        let timeouts = (result.errors["internal-server-error"] ?? 0) + (result.sent - replies)
        // The vendor accepted more pushes than publishes were answered `result`: a push went out twice.
        // Fewer: publishes for a node whose push was in flight rode on the next push (coalescing).
        let surplus = accepted - result.results
        let duplicates = max(0, surplus)
        let carried = max(0, -surplus)
        summary += "; vendor requests \(vendorRequests) (\(format(100 * Double(vendorRequests) / Double(max(1, result.sent))))% of publishes)"
        summary += ", timeouts \(timeouts), duplicates \(duplicates)"
        if carried > 0 { summary += ", results carried by another's push \(carried)" }
        // Every reply checked against its node (live: result, dead: item-not-found), and every request
        // the vendor accepted against the replies: the same nodes, and nothing malformed.
        var problems: [String] = []
        if warmUp.unexpected > 0 { problems.append("\(warmUp.unexpected) unexpected replies in the warm-up, first: \(warmUp.firstUnexpected ?? "")") }
        if result.unexpected > 0 { problems.append("\(result.unexpected) unexpected replies, first: \(result.firstUnexpected ?? "")") }
        if vendor.malformed > 0 { problems.append("\(vendor.malformed) requests the vendor refused as malformed") }
        if !scenario.burst, surplus == 0, acceptedIndexSum != result.resultIndexSum {
            problems.append("the vendor accepted pushes for other nodes than the replies promised")
        }
        if !scenario.burst, surplus != 0 { problems.append("\(accepted) pushes accepted for \(result.results) publishes answered result") }
        if replies < result.sent { problems.append("\(result.sent - replies) publishes unanswered") }
        summary += problems.isEmpty ? "; checked" : "; CHECK FAILED: " + problems.joined(separator: "; ")
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
            "duplicate_requests": duplicates,
            "vendor_requests_per_publish": Double(vendorRequests) / Double(max(1, result.sent)),
            "checks_passed": problems.isEmpty,
            "problems": problems,
        ]) { a, _ in a }
    }

    // MARK: Through Prosody

    /// The generator as a component of a real Prosody (`bench.example`), its publishes routed by Prosody
    /// to `push.bench`: first to an echo component that answers at once (Prosody's own ceiling), then to
    /// Herald, then to the echo again. Herald's rate is reported beside the mean of the two ceilings.
    private func measureThroughProsody(_ scenario: Scenario, binary: String, workspace: URL) async throws -> [String: Any] {
        let database = workspace.appendingPathComponent("regs-prosody-\(scenario.registrations).sqlite").path
        try? FileManager.default.removeItem(atPath: database)
        try await SQLiteRegistrationStore(path: database).saveAll(registrations(scenario.registrations, deadPercent: 0, service: .apns))
        let heraldSecret = "bench-component-secret"
        let generatorSecret = "bench-generator-secret"
        let prosody = try ProsodyServer(components: [.init(domain: "push.bench", secret: heraldSecret), .init(domain: "bench.example", secret: generatorSecret)])
        prosody.modules = ["disco", "ping"]
        prosody.logLevel = "error"
        try await prosody.start()
        defer { prosody.terminate() }
        guard let prosodyPID = prosody.pid else { throw BenchmarkError("prosody has no pid") }

        let portFile = workspace.appendingPathComponent("prosody-vendor.port").path
        let statsFile = workspace.appendingPathComponent("prosody-vendor-stats.json").path
        for file in [portFile, statsFile] { try? FileManager.default.removeItem(atPath: file) }
        let mock = try BenchVendor.start(portFile: portFile, statsFile: statsFile, workspace: workspace)
        defer { mock.process.terminate() }
        guard let mockPort = await waitForFile(portFile).flatMap({ Int($0) }) else { throw BenchmarkError("bench vendor did not start") }

        let generator = try await LoadGenerator.connect(
            port: prosody.componentPort, domain: "bench.example", secret: generatorSecret, publishSecret: "bench-publish-secret"
        )
        defer { Task { await generator.stop() } }
        guard await generator.waitForHandshake(timeout: .seconds(30)) != nil else { throw BenchmarkError("prosody did not accept the generator") }
        let run = LoadGenerator.Run(
            publishes: scenario.publishes, window: scenario.window, rate: scenario.rate, spaced: scenario.spaced,
            registrations: scenario.registrations, timeLimit: .seconds(600)
        )
        let warmUpWindow = scenario.window ?? 100

        /// One pass through Prosody to whatever answers `push.bench` now, with the CPU each process spent.
        func pass() async throws -> (result: LoadGenerator.Result, prosodyCPU: Double, generatorCPU: Double) {
            let prosodyBefore = ProcessStats(pid: prosodyPID)
            let generatorBefore = ProcessStats(pid: getpid())
            let result = try await generator.run(run)
            let replies = Double(max(1, result.results + result.errors.values.reduce(0, +)))
            return (
                result,
                (ProcessStats(pid: prosodyPID).cpuSeconds - prosodyBefore.cpuSeconds) / replies * 1e6,
                (ProcessStats(pid: getpid()).cpuSeconds - generatorBefore.cpuSeconds) / replies * 1e6
            )
        }
        func ceiling() async throws -> (rate: Double, prosodyCPU: Double) {
            let echo = try await EchoComponent.connect(port: prosody.componentPort, domain: "push.bench", secret: heraldSecret)
            defer { Task { await echo.stop() } }
            _ = try await generator.run(.init(publishes: min(2_000, scenario.publishes), window: warmUpWindow, registrations: scenario.registrations, timeLimit: .seconds(60)))
            let measured = try await pass()
            await echo.stop()
            return (Double(measured.result.results) / measured.result.seconds, measured.prosodyCPU)
        }

        // At a steady rate Prosody is not at its limit, so there is no ceiling to compare with.
        let before = scenario.rate == nil ? try await ceiling() : nil
        var environment = [
            "HERALD_XMPP__PORT": String(prosody.componentPort),
            "HERALD_COMPONENTS__0__DOMAIN": "push.bench",
            "HERALD_COMPONENTS__0__SECRET": heraldSecret,
            "HERALD_APPS__0__NAME": "bench",
            "HERALD_ADMIN__PORT": "0",
            "HERALD_DELIVERY__COALESCING_WINDOW": "0s",
            "HERALD_LOG__LEVEL": "warning",
            "HERALD_STORAGE__PATH": database,
        ]
        environment.merge(MockVendorEnvironment.apns(url: "https://127.0.0.1:\(mockPort)", topic: "org.example.bench")) { a, _ in a }
        if let readInterval = scenario.readInterval { environment["HERALD_XMPP__READ_INTERVAL"] = readInterval }
        // Prosody answers the echo's reconnect window with `conflict` for a moment; Herald's reconnect takes over.
        let herald = try ChildProcess(path: binary, arguments: ["serve"], environment: environment, logPath: workspace.appendingPathComponent("herald-prosody.log").path)
        defer { herald.terminate() }
        // Connected once a probe publish comes back `result` through Prosody.
        var connected = false
        for _ in 0..<300 where !connected {
            let probe = try await generator.run(.init(publishes: 10, window: 10, registrations: scenario.registrations, timeLimit: .seconds(10)))
            connected = probe.results == 10
            if !connected { try await Task.sleep(for: .milliseconds(100)) }
        }
        guard connected else { throw BenchmarkError("herald did not answer through prosody; see \(workspace.path)/herald-prosody.log") }
        let warmUp = try await generator.run(.init(publishes: min(2_000, scenario.publishes), window: warmUpWindow, registrations: scenario.registrations, timeLimit: .seconds(60)))
        let vendorBefore = try await mock.snapshot()
        let heraldBefore = ProcessStats(pid: herald.pid)
        let mockBefore = ProcessStats(pid: mock.process.pid)
        let measured = try await pass()
        let heraldAfter = ProcessStats(pid: herald.pid)
        let mockAfter = ProcessStats(pid: mock.process.pid)
        let vendor = try await mock.snapshot().since(vendorBefore)
        await herald.stop()
        let after = scenario.rate == nil ? try await ceiling() : nil
        await mock.process.stop()

        let result = measured.result
        let replies = result.results + result.errors.values.reduce(0, +)
        let rate = Double(replies) / result.seconds
        let ceilingRate = before.flatMap { before in after.map { (before.rate + $0.rate) / 2 } }
        let latencies = Percentiles(result.latenciesNanoseconds.map { $0 / 1000 })
        var problems: [String] = []
        if warmUp.unexpected > 0 { problems.append("\(warmUp.unexpected) unexpected replies in the warm-up") }
        if result.unexpected > 0 { problems.append("\(result.unexpected) unexpected replies, first: \(result.firstUnexpected ?? "")") }
        if vendor.malformed > 0 { problems.append("\(vendor.malformed) requests the vendor refused as malformed") }
        if vendor.apnsAccepted != result.results || vendor.apnsTokenSum != result.resultIndexSum {
            problems.append("\(vendor.apnsAccepted) pushes accepted for \(result.results) publishes answered result")
        }
        var summary = "\(result.results) ok"
        if let before, let after, let ceilingRate {
            summary += "; Prosody's ceiling \(format(before.rate)) and \(format(after.rate))/s, Herald at \(format(100 * rate / ceilingRate))% of it"
            summary += "; Prosody CPU µs per publish \(format(measured.prosodyCPU, decimals: 1)) (echo: \(format((before.prosodyCPU + after.prosodyCPU) / 2, decimals: 1)))"
        } else {
            summary += "; Prosody CPU µs per publish \(format(measured.prosodyCPU, decimals: 1))"
        }
        summary += problems.isEmpty ? "; checked" : "; CHECK FAILED: " + problems.joined(separator: "; ")
        var row: [String: Any] = [
            "scenario": scenario.name,
            "store": "sqlite",
            "registrations": scenario.registrations,
            "publishes": result.sent,
            "publishes_per_second": rate,
            "prosody_cpu_us_per_publish": measured.prosodyCPU,
            "p50_ms": latencies.value(0.5), "p90_ms": latencies.value(0.9), "p99_ms": latencies.value(0.99), "max_ms": latencies.value(1.0),
            "herald_cpu_us_per_publish": (heraldAfter.cpuSeconds - heraldBefore.cpuSeconds) / Double(max(1, replies)) * 1e6,
            "mock_cpu_us_per_publish": (mockAfter.cpuSeconds - mockBefore.cpuSeconds) / Double(max(1, replies)) * 1e6,
            "generator_cpu_us_per_publish": measured.generatorCPU,
            "herald_peak_rss_mb": heraldAfter.peakMB,
            "replies": summary,
            "vendor_requests": vendor.apnsRequests,
            "vendor_requests_per_publish": Double(vendor.apnsRequests) / Double(max(1, result.sent)),
            "checks_passed": problems.isEmpty,
            "problems": problems,
        ]
        if let ceilingRate {
            row["prosody_ceiling_publishes_per_second"] = ceilingRate
            row["share_of_ceiling"] = rate / ceilingRate
        }
        return row
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

    // MARK: The mock's own ceiling

    /// The vendor alone under a direct HTTP/2 load: its requests/s, and its CPU per request.
    private func mockCeiling(binary: String, workspace: URL) async throws -> (rate: Double, cpuMicroseconds: Double) {
        let portFile = workspace.appendingPathComponent("ceiling.port").path
        let statsFile = workspace.appendingPathComponent("ceiling-stats.json").path
        let vendor = try BenchVendor.start(portFile: portFile, statsFile: statsFile, workspace: workspace)
        defer { vendor.process.terminate() }
        guard let port = await waitForFile(portFile).flatMap({ Int($0) }) else { throw BenchmarkError("bench vendor did not start") }
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
        let vendorBefore = ProcessStats(pid: vendor.process.pid)
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
        let cpu = (ProcessStats(pid: vendor.process.pid).cpuSeconds - vendorBefore.cpuSeconds) / Double(max(1, completed)) * 1e6
        await vendor.process.stop()
        return (rate, cpu)
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
