import Foundation
import HeraldHarness
import MockVendors

/// The benchmark's vendor: `herald-bench-vendor` (C, beside this binary) serving APNs, FCM's token
/// endpoint and FCM's send endpoint on one port, checking each request as the vendor would.
struct BenchVendor {
    let process: ChildProcess
    let statsFile: String

    /// What the vendor counted: `--stats-file` as it writes it.
    struct Counts: Decodable {
        var apnsRequests: Int
        var apnsAccepted: Int
        var apnsRefused: Int
        var apnsAlert: Int
        var apnsTokenSum: UInt64
        var fcmRequests: Int
        var fcmAccepted: Int
        var fcmRefused: Int
        var fcmTokenSum: UInt64
        var tokenRequests: Int
        var malformed: Int
        var jwtVerifications: Int
        var connections: Int

        /// What happened between `earlier` and this snapshot.
        func since(_ earlier: Counts) -> Counts {
            Counts(
                apnsRequests: apnsRequests - earlier.apnsRequests, apnsAccepted: apnsAccepted - earlier.apnsAccepted,
                apnsRefused: apnsRefused - earlier.apnsRefused, apnsAlert: apnsAlert - earlier.apnsAlert,
                apnsTokenSum: apnsTokenSum &- earlier.apnsTokenSum, fcmRequests: fcmRequests - earlier.fcmRequests,
                fcmAccepted: fcmAccepted - earlier.fcmAccepted, fcmRefused: fcmRefused - earlier.fcmRefused,
                fcmTokenSum: fcmTokenSum &- earlier.fcmTokenSum, tokenRequests: tokenRequests - earlier.tokenRequests,
                malformed: malformed - earlier.malformed, jwtVerifications: jwtVerifications - earlier.jwtVerifications,
                connections: connections - earlier.connections
            )
        }
    }

    static func binary() throws -> String {
        let binary = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("herald-bench-vendor").path
        guard FileManager.default.isExecutableFile(atPath: binary) else {
            throw BenchmarkError("\(binary) not found: build it first (swift build -c release --product herald-bench-vendor)")
        }
        return binary
    }

    /// Starts the vendor for topic `org.example.bench`, the example APNs key and FCM service account;
    /// tokens starting with `dead` are answered as unregistered.
    static func start(portFile: String, statsFile: String, delayMilliseconds: Int = 0, workspace: URL) throws -> BenchVendor {
        var arguments = [
            "--cert", ExampleKeys.tlsCertificatePath, "--key", ExampleKeys.tlsKeyPath, "--apns-key", ExampleKeys.apnsKeyPath,
            "--key-id", ExampleKeys.apnsKeyID, "--team-id", ExampleKeys.apnsTeamID, "--topic", "org.example.bench",
            "--fcm-service-account", ExampleKeys.fcmServiceAccountPath, "--dead-prefix", "dead",
            "--port-file", portFile, "--stats-file", statsFile,
        ]
        if delayMilliseconds > 0 { arguments += ["--delay-ms", String(delayMilliseconds)] }
        let process = try ChildProcess(path: try binary(), arguments: arguments, logPath: workspace.appendingPathComponent("bench-vendor.log").path)
        return BenchVendor(process: process, statsFile: statsFile)
    }

    /// The counts as of now (the vendor writes them on SIGUSR1).
    func snapshot() async throws -> Counts {
        try? FileManager.default.removeItem(atPath: statsFile)
        process.send(SIGUSR1)
        for _ in 0..<500 {
            if let data = FileManager.default.contents(atPath: statsFile), !data.isEmpty {
                let decoder = JSONDecoder()
                decoder.keyDecodingStrategy = .convertFromSnakeCase
                return try decoder.decode(Counts.self, from: data)
            }
            try await Task.sleep(for: .milliseconds(10))
        }
        throw BenchmarkError("the bench vendor wrote no counts")
    }
}
