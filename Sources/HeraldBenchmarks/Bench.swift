import ArgumentParser
import Foundation

@main
struct Bench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "herald-bench",
        abstract: "Herald's benchmarks. Run in release mode: swift run -c release herald-bench <benchmark>.",
        subcommands: [PathBenchmark.self, FloorBenchmark.self, EchoComponentCommand.self, RegistrationBenchmark.self, StoreBenchmark.self]
    )
}

/// Prints a result as an aligned table and as one line of JSON, so runs can be compared by eye and by tool.
struct Report {
    var title: String
    var rows: [(String, String)] = []
    var json: [String: Any] = [:]

    mutating func add(_ label: String, _ value: String, key: String, _ raw: Any) {
        rows.append((label, value))
        json[key] = raw
    }

    func print() {
        let width = rows.map(\.0.count).max() ?? 0
        Swift.print("\n\(title)")
        for (label, value) in rows {
            Swift.print("  " + label.padding(toLength: width, withPad: " ", startingAt: 0) + "  " + value)
        }
        if let data = try? JSONSerialization.data(withJSONObject: json, options: [.sortedKeys]) {
            Swift.print("JSON " + String(decoding: data, as: UTF8.self))
        }
    }
}

/// Percentiles of samples, reported in thousandths of the samples' unit (µs in → ms out).
struct Percentiles {
    let sorted: [UInt64]

    init(_ samples: [UInt64]) {
        sorted = samples.sorted()
    }

    func value(_ fraction: Double) -> Double {
        guard !sorted.isEmpty else { return 0 }
        let index = min(sorted.count - 1, Int((Double(sorted.count) * fraction).rounded(.up)) - 1)
        return Double(sorted[max(0, index)]) / 1000
    }
}

/// The `herald` binary built beside this one, which the benchmarks run as a process of its own.
func heraldBinary() throws -> String {
    let binary = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("herald").path
    guard FileManager.default.isExecutableFile(atPath: binary) else {
        throw ValidationError("\(binary) not found: build it first (swift build -c release)")
    }
    return binary
}

/// A table with the first and last columns left-aligned and the numbers between right-aligned.
func printAligned(header: [String], rows table: [[String]]) {
    let rows = [header] + table
    let widths = header.indices.map { column in rows.map { $0[column].count }.max() ?? 0 }
    print("")
    for row in rows {
        print(row.enumerated().map { index, cell in
            index == 0 || index == header.count - 1 ? cell.padding(toLength: widths[index], withPad: " ", startingAt: 0)
                : String(repeating: " ", count: widths[index] - cell.count) + cell
        }.joined(separator: "  "))
    }
}

func format(_ value: Double, decimals: Int = 0) -> String {
    String(format: "%.\(decimals)f", value)
}

extension Duration {
    var seconds: Double {
        Double(components.seconds) + Double(components.attoseconds) / 1e18
    }
}

struct BenchmarkError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// The text of a file a child process writes once it is ready (its port), waiting up to 10 s for it.
func waitForFile(_ path: String) async -> String? {
    for _ in 0..<500 {
        if let text = try? String(contentsOfFile: path, encoding: .utf8), !text.isEmpty { return text }
        try? await Task.sleep(for: .milliseconds(20))
    }
    return nil
}
