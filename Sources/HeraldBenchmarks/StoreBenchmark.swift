import ArgumentParser
import Foundation
import HeraldCore
import HeraldSQLite

/// Lookups by node against a SQLite store holding many registrations: what every publish costs when
/// the registration is not cached.
struct StoreBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "store",
        abstract: "Fill a SQLite store and measure lookups by node."
    )

    @Option(help: "Registrations stored.") var registrations = 1_000_000
    @Option(help: "Lookups measured.") var lookups = 200_000
    @Option(help: "Concurrent lookup tasks.") var concurrency = 8
    @Option(help: "Database file (default: a new temporary one, removed afterwards).") var path: String?

    func run() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("herald-bench-\(UUID().uuidString)")
        let databasePath = path ?? directory.appendingPathComponent("bench.sqlite").path
        defer { if path == nil { try? FileManager.default.removeItem(at: directory) } }
        let store = try SQLiteRegistrationStore(path: databasePath)
        var report = Report(title: "SQLite registration store: \(registrations) registrations")

        let now = Date()
        let nodes = (0..<registrations).map { String(format: "node%011d", $0) }
        let insertStart = ContinuousClock.now
        let batch = nodes.enumerated().map { index, node in
            Registration(
                node: node, secret: "secret-\(index)-xxxxxxxxxxxx", app: "chat", service: .apns, dialect: .p2,
                token: String(repeating: "ab", count: 32), accountDomain: "example.org",
                accountKey: "account-\(index % 100_000)", deviceKey: "device-\(index)", createdAt: now
            )
        }
        try await store.saveAll(batch)
        let insertSeconds = (ContinuousClock.now - insertStart).seconds
        report.add("insert", "\(format(Double(registrations) / insertSeconds)) registrations/s", key: "inserts_per_second", Double(registrations) / insertSeconds)
        report.add("database size", "\(format(Double(store.sizeOnDisk) / 1_048_576, decimals: 1)) MiB", key: "database_bytes", store.sizeOnDisk)

        let perTask = lookups / concurrency
        let lookupStart = ContinuousClock.now
        let samples = try await withThrowingTaskGroup(of: [UInt64].self) { group in
            for task in 0..<concurrency {
                group.addTask {
                    var generator = SystemRandomNumberGenerator()
                    var latencies: [UInt64] = []
                    latencies.reserveCapacity(perTask)
                    for _ in 0..<perTask {
                        let node = nodes[Int.random(in: 0..<nodes.count, using: &generator)]
                        let started = DispatchTime.now().uptimeNanoseconds
                        guard try await store.registration(node: node) != nil else {
                            throw ValidationError("lookup \(task) missed \(node)")
                        }
                        latencies.append(DispatchTime.now().uptimeNanoseconds - started)
                    }
                    return latencies
                }
            }
            return try await group.reduce(into: []) { $0 += $1 }
        }
        let lookupSeconds = (ContinuousClock.now - lookupStart).seconds
        // Samples are nanoseconds, so the percentiles come out in microseconds.
        let percentiles = Percentiles(samples)
        report.add("lookups by node", "\(format(Double(samples.count) / lookupSeconds)) lookups/s (\(concurrency) tasks)", key: "lookups_per_second", Double(samples.count) / lookupSeconds)
        report.add("lookup latency", "p50 \(format(percentiles.value(0.5), decimals: 1)) µs, p99 \(format(percentiles.value(0.99), decimals: 1)) µs", key: "lookup_p99_us", percentiles.value(0.99))
        report.print()
    }
}
