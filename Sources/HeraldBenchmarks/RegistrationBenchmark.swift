import ArgumentParser
import Foundation
import HeraldHarness
import MockVendors

/// Registrations at volume: a million distinct accounts registering over XEP-0050, as after an app
/// update, measured slice by slice so that a cost growing with the number of accounts shows as a trend.
/// Herald runs as its own process on a new SQLite database; the load generator plays the XMPP server.
struct RegistrationBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "registrations",
        abstract: "Measure XEP-0050 registrations/s, latency, CPU and memory from the first to the last of many accounts."
    )

    @Option(help: "Registrations in all, from as many accounts.") var count = 1_000_000
    @Option(help: "Registrations per reported slice.") var slice = 100_000
    @Option(help: "Registrations in flight at once.") var window = 500
    @Option(help: "XMPP servers the accounts are spread over.") var domains = 100
    @Flag(help: "A small, quick run (CI smoke test).") var quick = false
    @Option(help: "Write the JSON report here too.") var json: String?

    func run() async throws {
        let binary = try heraldBinary()
        let total = quick ? 20_000 : count
        let sliceSize = quick ? 5_000 : slice
        let workspace = FileManager.default.temporaryDirectory.appendingPathComponent("herald-registration-bench-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: workspace, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: workspace) }

        let generator = try await LoadGenerator.start(secret: "bench-component-secret", publishSecret: "unused")
        defer { Task { await generator.stop() } }
        var environment = [
            "HERALD_XMPP__PORT": String(generator.port),
            "HERALD_COMPONENTS__0__DOMAIN": "push.bench",
            "HERALD_COMPONENTS__0__SECRET": generator.secret,
            "HERALD_APPS__0__NAME": "bench",
            "HERALD_STORAGE__PATH": workspace.appendingPathComponent("registrations.sqlite").path,
            "HERALD_ADMIN__PORT": "0",
            "HERALD_LOG__LEVEL": "warning",
        ]
        // Registering contacts no vendor; the FCM settings only give the app its service.
        environment.merge(MockVendorEnvironment.fcm(url: "https://127.0.0.1:9")) { a, _ in a }
        let herald = try ChildProcess(path: binary, arguments: ["serve"], environment: environment, logPath: workspace.appendingPathComponent("herald.log").path)
        defer { herald.terminate() }
        guard await generator.waitForHandshake(timeout: .seconds(30)) != nil else {
            throw BenchmarkError("herald did not connect; see \(workspace.path)/herald.log")
        }
        print("machine: \(ProcessInfo.processInfo.activeProcessorCount) cores; \(total) registrations, \(window) in flight, \(domains) servers")
        var rows: [[String: Any]] = []
        var table: [[String]] = []
        var done = 0
        let started = ContinuousClock.now
        while done < total {
            let size = min(sliceSize, total - done)
            let before = ProcessStats(pid: herald.pid)
            let result = try await generator.run(.init(
                publishes: size, window: window, registrations: 1, timeLimit: .seconds(600),
                kind: .register(firstAccount: done, domains: domains)
            ))
            let after = ProcessStats(pid: herald.pid)
            let replies = result.results + result.errors.values.reduce(0, +)
            let latencies = Percentiles(result.latenciesNanoseconds.map { $0 / 1000 })
            var outcome = "\(result.results) ok"
            for (condition, count) in result.errors.sorted(by: { $0.key < $1.key }) { outcome += ", \(count) \(condition)" }
            if replies < result.sent { outcome += ", \(result.sent - replies) unanswered" }
            let row: [String: Any] = [
                "first": done, "last": done + size - 1,
                "registrations_per_second": Double(replies) / result.seconds,
                "p50_ms": latencies.value(0.5), "p99_ms": latencies.value(0.99), "max_ms": latencies.value(1.0),
                "herald_cpu_us_per_registration": (after.cpuSeconds - before.cpuSeconds) / Double(max(1, replies)) * 1e6,
                "herald_rss_mb": after.residentMB, "herald_peak_rss_mb": after.peakMB,
                "replies": outcome,
            ]
            rows.append(row)
            table.append([
                "\(done / 1000)k–\((done + size) / 1000)k",
                format(row["registrations_per_second"] as? Double ?? 0),
                format(row["p50_ms"] as? Double ?? 0, decimals: 2), format(row["p99_ms"] as? Double ?? 0, decimals: 2),
                format(row["max_ms"] as? Double ?? 0, decimals: 1),
                format(row["herald_cpu_us_per_registration"] as? Double ?? 0, decimals: 1),
                format(row["herald_rss_mb"] as? Double ?? 0, decimals: 1),
                outcome,
            ])
            printTable(table)
            done += size
            guard replies == size, result.results == size else { break }
        }
        let seconds = (ContinuousClock.now - started).seconds
        await herald.stop()
        print("\n\(done) registrations in \(format(seconds, decimals: 1)) s: \(format(Double(done) / seconds)) registrations/s overall")
        let report: [String: Any] = ["slices": rows, "registrations": done, "seconds": seconds, "window": window]
        let data = try JSONSerialization.data(withJSONObject: report, options: [.sortedKeys])
        print("JSON " + String(decoding: data, as: UTF8.self))
        if let json { try data.write(to: URL(fileURLWithPath: json)) }
        if rows.contains(where: { ($0["replies"] as? String)?.contains(",") == true }) {
            throw BenchmarkError("some registrations were not answered with a result")
        }
    }

    private func printTable(_ table: [[String]]) {
        printAligned(header: ["accounts", "registrations/s", "p50 ms", "p99 ms", "max ms", "Herald CPU µs", "RSS MB", "replies"], rows: table)
    }
}
