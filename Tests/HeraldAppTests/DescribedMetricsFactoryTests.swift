import HeraldCore
import Prometheus
import Testing

@testable import HeraldApp

@Suite struct DescribedMetricsFactoryTests {
    /// Every family Herald's metrics produce, scraped: each has HELP from the catalog and the catalog's TYPE.
    @Test func everyExportedFamilyHasTheCatalogsHelpAndType() throws {
        let registry = PrometheusCollectorRegistry()
        let metrics = HeraldMetrics(factory: DescribedMetricsFactory(registry: registry, durationBuckets: [.milliseconds(10)]), apps: ["chat"])
        metrics.publishAnswered(.delivered, app: "chat", duration: .milliseconds(3))
        metrics.vendorRequest(.apns, app: "chat", outcome: .delivered(id: nil), duration: .milliseconds(3))
        for event in [HeraldMetrics.VendorConnectionEvent.opened, .connectFailed, .retired(reason: "goaway"), .pingTimedOut, .requestRerouted] {
            metrics.vendorConnection(.fcm, event: event)
        }
        metrics.stanzaSkipped(kind: "message", reason: "too_large")
        metrics.registrationRefused(reason: "account_rate")
        metrics.tokenRemoved(.webpush)
        metrics.unifiedPushRequest(status: 201)
        for entry in MetricCatalog.all where entry.kind == .gauge {
            metrics.gauge(entry.name, 1, dimensions: entry.labels.map { ($0, "x") })
        }

        var buffer: [UInt8] = []
        registry.emit(into: &buffer)
        let lines = String(decoding: buffer, as: UTF8.self).split(separator: "\n").map(String.init)
        var help: [String: String] = [:]
        var type: [String: String] = [:]
        for line in lines where line.hasPrefix("# ") {
            let fields = line.split(separator: " ", maxSplits: 3).map(String.init)
            guard fields.count == 4 else { continue }
            if fields[1] == "HELP" { help[fields[2]] = fields[3] }
            if fields[1] == "TYPE" {
                #expect(help[fields[2]] != nil, "\(fields[2]) has TYPE before (or without) HELP")
                type[fields[2]] = fields[3]
            }
        }
        #expect(Set(type.keys) == Set(MetricCatalog.all.map(\.name)), "every catalogued metric was exercised and exported")
        for entry in MetricCatalog.all {
            #expect(help[entry.name] == entry.help, "\(entry.name)")
            #expect(type[entry.name] == entry.kind.rawValue, "\(entry.name)")
        }
        // The app label is on the publish and vendor families.
        #expect(lines.contains { $0.hasPrefix("herald_publishes_total{") && $0.contains(#"app="chat""#) && $0.contains(#"outcome="delivered""#) && $0.hasSuffix(" 1") })
        #expect(lines.contains { $0.hasPrefix("herald_vendor_requests_total{") && $0.contains(#"app="chat""#) })
    }

    @Test func aMetricOutsideTheCatalogIsStillExportedWithoutHelp() {
        let registry = PrometheusCollectorRegistry()
        let factory = DescribedMetricsFactory(registry: registry, durationBuckets: [.milliseconds(10)])
        HeraldMetrics(factory: factory).gauge("herald_uncatalogued", 3)
        var buffer: [UInt8] = []
        registry.emit(into: &buffer)
        let text = String(decoding: buffer, as: UTF8.self)
        #expect(text.contains("herald_uncatalogued 3"))
        #expect(!text.contains("# HELP herald_uncatalogued"))
    }
}
