import Foundation
import HeraldCore
import HeraldTesting
import Logging
import Prometheus
import MockVendors
import Synchronization
import Testing

@testable import HeraldApp

/// Vendor clients replaced on SIGHUP stay open for the requests on them, then close; the rest close
/// when Herald stops.
@Suite struct VendorClientsTests {
    final class Closed: Sendable {
        private let names = Mutex<[String]>([])
        func add(_ name: String) { names.withLock { $0.append(name) } }
        var all: [String] { names.withLock { $0 } }
    }

    static func vendors(_ name: String, closed: Closed) -> VendorSet {
        var vendors = VendorSet()
        vendors.shutdowns = [{ closed.add(name) }]
        return vendors
    }

    @Test func replacedClientsCloseAfterTheDelayAndTheCurrentOnesWhenStopped() async throws {
        let closed = Closed()
        let clients = VendorClients(initial: Self.vendors("first", closed: closed), retirementDelay: .milliseconds(300))
        let running = Task { try await clients.run() }
        clients.replace(with: Self.vendors("second", closed: closed))
        #expect(closed.all.isEmpty, "requests on the old clients get time to finish")
        #expect(await eventually { closed.all == ["first"] })
        running.cancel()
        try? await running.value
        #expect(closed.all == ["first", "second"])
    }

    @Test func clientsStillRetiringCloseWhenHeraldStops() async throws {
        let closed = Closed()
        let clients = VendorClients(initial: Self.vendors("first", closed: closed), retirementDelay: .seconds(3600))
        let running = Task { try await clients.run() }
        clients.replace(with: Self.vendors("second", closed: closed))
        try await Task.sleep(for: .milliseconds(50))
        running.cancel()
        try? await running.value
        #expect(Set(closed.all) == ["first", "second"])
        #expect(closed.all.count == 2, "each closed once")
    }
}

/// Vendor clients built from a configuration: a set that cannot be built closes what it opened.
@Suite struct VendorSetTests {
    @Test func aSetThatFailsPartWayLeavesNoClientOpenAndThrows() throws {
        // The second app's certificate passes the configuration's checks, then is gone when its client
        // is built, after the first app's Web Push client exists.
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("herald-vendor-set-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let certificate = directory.appendingPathComponent("push-certificate.pem").path
        try FileManager.default.copyItem(atPath: ExampleKeys.apnsCertificatePath, toPath: certificate)
        let yaml = """
            components:
              - domain: push.example.com
                secret: s
            apps:
              - name: web
                webpush:
                  vapid_private_key_file: \(ExampleKeys.vapidKeyPath)
                  subject: mailto:ops@example.org
              - name: chat
                apns:
                  topic: org.example.chat
                  certificate_file: \(certificate)
                  private_key_file: \(ExampleKeys.apnsCertificateKeyPath)
            """
        let configuration = try HeraldConfiguration(tree: ConfigTree(yaml: yaml))
        try FileManager.default.removeItem(atPath: certificate)
        let metrics = HeraldMetrics(factory: DescribedMetricsFactory(registry: PrometheusCollectorRegistry(), durationBuckets: [.seconds(1)]))
        // A Web Push client left open when the set is released stops the whole test process
        // ("Client not shut down before the deinit"), as it stopped Herald on a failed reload.
        #expect(throws: (any Error).self) {
            _ = try VendorSet(apps: configuration.apps, logger: Logger(label: "test"), metrics: metrics)
        }
    }
}
