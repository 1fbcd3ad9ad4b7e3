import CoreMetrics
import Foundation
import HeraldSupport
import Synchronization

/// Herald's metrics, made through an injected factory so each application (and each test) has its own
/// registry instead of the process-wide one.
///
/// Names follow Prometheus conventions; README.md ("Metrics") lists them for operators.
public struct HeraldMetrics: Sendable {
    private let handles: MetricHandles
    /// Made up front for every configured app, so each outcome reads 0 from the first scrape; held per
    /// app so that a publish finds its counter and timer with one lookup, not a label set built each time.
    private let publishHandles: [String: PublishHandles]
    /// Each app and vendor's handles for an accepted push, the outcome of nearly every vendor request:
    /// looked up by app and vendor rather than by the whole label set, which had to be built each time.
    private let acceptedPushes = AcceptedPushHandles()

    private struct PublishHandles: Sendable {
        var counters: [PublishOutcome.Kind: Counter]
        var duration: CoreMetrics.Timer
    }

    /// `apps`: the configured app names; a publish of another app (or of none) still counts, under its name.
    public init(factory: any MetricsFactory, apps: [String] = []) {
        let handles = MetricHandles(factory: factory)
        var publishHandles: [String: PublishHandles] = [:]
        for app in apps + [MetricCatalog.noApp] {
            var counters: [PublishOutcome.Kind: Counter] = [:]
            for kind in PublishOutcome.Kind.allCases {
                counters[kind] = handles.counter("herald_publishes_total", [("app", app), ("outcome", kind.rawValue)])
            }
            publishHandles[app] = PublishHandles(counters: counters, duration: handles.timer("herald_publish_duration_seconds", [("app", app)]))
        }
        self.handles = handles
        self.publishHandles = publishHandles
    }

    /// Metrics that go nowhere (tests and tools that do not scrape).
    public static let disabled = HeraldMetrics(factory: NOOPMetricsHandler.instance)

    /// One publish answered, and how long Herald took to answer it; `app` is nil when no registration was found.
    public func publishAnswered(_ outcome: PublishOutcome, app: String?, duration: Duration) {
        let app = app ?? MetricCatalog.noApp
        if let known = publishHandles[app], let counter = known.counters[outcome.kind] {
            counter.increment()
            known.duration.recordNanoseconds(duration.nanoseconds)
            return
        }
        handles.counter("herald_publishes_total", [("app", app), ("outcome", outcome.kind.rawValue)]).increment()
        handles.timer("herald_publish_duration_seconds", [("app", app)]).recordNanoseconds(duration.nanoseconds)
    }

    /// One request to a vendor: its result class, the vendor's reason, and the time to its answer.
    public func vendorRequest(_ service: PushVendor, app: String, outcome: PushOutcome, duration: Duration) {
        if case .delivered = outcome {
            let (counter, timer) = acceptedPushes.handles(app: app, vendor: service) {
                (
                    handles.counter("herald_vendor_requests_total", [("app", app), ("vendor", service.rawValue), ("status", outcome.label), ("reason", outcome.reason.metricLabel)]),
                    handles.timer("herald_vendor_request_duration_seconds", [("app", app), ("vendor", service.rawValue)])
                )
            }
            counter.increment()
            timer.recordNanoseconds(duration.nanoseconds)
            return
        }
        handles.counter(
            "herald_vendor_requests_total",
            [("app", app), ("vendor", service.rawValue), ("status", outcome.label), ("reason", outcome.reason.metricLabel)]
        ).increment()
        handles.timer("herald_vendor_request_duration_seconds", [("app", app), ("vendor", service.rawValue)])
            .recordNanoseconds(duration.nanoseconds)
    }

    /// A vendor connection opened, failed to connect, retired (with its reason), timed out a PING, or
    /// gave a request back unprocessed for another connection.
    public func vendorConnection(_ service: PushVendor, event: VendorConnectionEvent) {
        let vendor = ("vendor", service.rawValue)
        switch event {
        case .opened:
            handles.counter("herald_vendor_connections_opened_total", [vendor]).increment()
        case .connectFailed:
            handles.counter("herald_vendor_connect_failures_total", [vendor]).increment()
        case .retired(let reason):
            handles.counter("herald_vendor_connections_retired_total", [vendor, ("reason", reason)]).increment()
        case .pingTimedOut:
            handles.counter("herald_vendor_pings_timed_out_total", [vendor]).increment()
        case .requestRerouted:
            handles.counter("herald_vendor_requests_rerouted_total", [vendor]).increment()
        }
    }

    public enum VendorConnectionEvent: Sendable, Hashable {
        case opened, connectFailed, retired(reason: String), pingTimedOut, requestRerouted
    }

    /// An inbound stanza skipped for breaking a per-stanza limit (`reason`: too_large, too_deep).
    public func stanzaSkipped(kind: String, reason: String) {
        let kind = ["iq", "message", "presence"].contains(kind) ? kind : "other"
        handles.counter("herald_stanzas_skipped_total", [("kind", kind), ("reason", reason)]).increment()
    }

    /// A registration request refused by an abuse limit (`reason`: account_rate, account_limit, domain_limit,
    /// total_limit, domain_not_allowed).
    public func registrationRefused(reason: String) {
        handles.counter("herald_registrations_refused_total", [("reason", reason)]).increment()
    }

    /// A registration removed because its vendor declared the token dead.
    /// A push to a UnifiedPush endpoint, by the status it was answered with (201, 404, 410, …).
    public func unifiedPushRequest(status: Int) {
        handles.counter("herald_unified_push_requests_total", [("status", String(status))]).increment()
    }

    public func tokenRemoved(_ service: PushVendor) {
        handles.counter("herald_tokens_removed_total", [("vendor", service.rawValue)]).increment()
    }

    /// Sets a gauge; for values sampled when metrics are read (queue depth, registrations, connections).
    public func gauge(_ label: String, _ value: Int, dimensions: [(String, String)] = []) {
        handles.gauge(label, dimensions).record(value)
    }
}

/// The handles `vendorRequest` uses for accepted pushes, by app and vendor.
final class AcceptedPushHandles: Sendable {
    private struct Key: Hashable {
        var app: String
        var vendor: PushVendor
    }

    private let table = Mutex<[Key: (Counter, CoreMetrics.Timer)]>([:])

    func handles(app: String, vendor: PushVendor, make: () -> (Counter, CoreMetrics.Timer)) -> (Counter, CoreMetrics.Timer) {
        let key = Key(app: app, vendor: vendor)
        if let found = table.withLock({ $0[key] }) { return found }
        let made = make()
        return table.withLock { table in
            if let found = table[key] { return found }
            table[key] = made
            return made
        }
    }
}
