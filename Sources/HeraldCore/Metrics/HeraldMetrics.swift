import CoreMetrics
import Foundation

/// Herald's metrics, made through an injected factory so each application (and each test) has its own
/// registry instead of the process-wide one.
///
/// Names follow Prometheus conventions; README.md ("Metrics") lists them for operators.
public struct HeraldMetrics: Sendable {
    private let factory: any MetricsFactory
    private let publishCounters: [String: Counter]
    private let publishDuration: CoreMetrics.Timer

    public init(factory: any MetricsFactory) {
        self.factory = factory
        var counters: [String: Counter] = [:]
        for outcome in PublishOutcome.metricLabels {
            counters[outcome] = Counter(label: "herald_publishes_total", dimensions: [("outcome", outcome)], factory: factory)
        }
        publishCounters = counters
        publishDuration = CoreMetrics.Timer(label: "herald_publish_duration_seconds", dimensions: [], factory: factory)
    }

    /// Metrics that go nowhere (tests and tools that do not scrape).
    public static let disabled = HeraldMetrics(factory: NOOPMetricsHandler.instance)

    /// One publish answered, and how long Herald took to answer it.
    public func publishAnswered(_ outcome: PublishOutcome, duration: Duration) {
        publishCounters[outcome.metricLabel]?.increment()
        publishDuration.recordNanoseconds(duration.nanoseconds)
    }

    /// One request to a vendor: its result class, the vendor's reason, and the time to its answer.
    public func vendorRequest(_ service: PushService, outcome: PushOutcome, duration: Duration) {
        Counter(
            label: "herald_vendor_requests_total",
            dimensions: [("vendor", service.rawValue), ("status", outcome.metricLabel), ("reason", Self.boundedReason(outcome))],
            factory: factory
        ).increment()
        CoreMetrics.Timer(label: "herald_vendor_request_duration_seconds", dimensions: [("vendor", service.rawValue)], factory: factory)
            .recordNanoseconds(duration.nanoseconds)
    }

    /// A vendor connection opened, failed to connect, retired (with its reason), timed out a PING, or
    /// gave a request back unprocessed for another connection.
    public func vendorConnection(_ service: PushService, event: VendorConnectionEvent) {
        let vendor = ("vendor", service.rawValue)
        switch event {
        case .opened:
            Counter(label: "herald_vendor_connections_opened_total", dimensions: [vendor], factory: factory).increment()
        case .connectFailed:
            Counter(label: "herald_vendor_connect_failures_total", dimensions: [vendor], factory: factory).increment()
        case .retired(let reason):
            Counter(label: "herald_vendor_connections_retired_total", dimensions: [vendor, ("reason", reason)], factory: factory).increment()
        case .pingTimedOut:
            Counter(label: "herald_vendor_pings_timed_out_total", dimensions: [vendor], factory: factory).increment()
        case .requestRerouted:
            Counter(label: "herald_vendor_requests_rerouted_total", dimensions: [vendor], factory: factory).increment()
        }
    }

    public enum VendorConnectionEvent: Sendable, Hashable {
        case opened, connectFailed, retired(reason: String), pingTimedOut, requestRerouted
    }

    /// An inbound stanza skipped for breaking a per-stanza limit (`reason`: too_large, too_deep).
    public func stanzaSkipped(kind: String, reason: String) {
        let kind = ["iq", "message", "presence"].contains(kind) ? kind : "other"
        Counter(label: "herald_stanzas_skipped_total", dimensions: [("kind", kind), ("reason", reason)], factory: factory).increment()
    }

    /// A registration request refused by an abuse limit (`reason`: account_rate, account_limit, domain_limit,
    /// total_limit, domain_not_allowed).
    public func registrationRefused(reason: String) {
        Counter(label: "herald_registrations_refused_total", dimensions: [("reason", reason)], factory: factory).increment()
    }

    /// A registration removed because its vendor declared the token dead.
    public func tokenRemoved(_ service: PushService) {
        Counter(label: "herald_tokens_removed_total", dimensions: [("vendor", service.rawValue)], factory: factory).increment()
    }

    /// Sets a gauge; for values sampled when metrics are read (queue depth, registrations, connections).
    public func gauge(_ label: String, _ value: Int, dimensions: [(String, String)] = []) {
        Gauge(label: label, dimensions: dimensions, factory: factory).record(value)
    }

    /// A vendor reason as a label: vendors' own reason codes pass; anything else (an error description
    /// that may carry addresses or numbers) is folded into "other" to keep the label set small.
    static func boundedReason(_ outcome: PushOutcome) -> String {
        let reason = outcome.reason
        let allowed = reason.count <= 40 && reason.unicodeScalars.allSatisfy {
            CharacterSet.alphanumerics.contains($0) || $0 == "_" || $0 == " " || $0 == "-"
        }
        return allowed ? reason : "other"
    }
}

extension Duration {
    var nanoseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    }
}

extension PushOutcome {
    var metricLabel: String {
        switch self {
        case .delivered: "delivered"
        case .deadToken: "dead_token"
        case .retry: "retry"
        case .unconfirmed: "unconfirmed"
        case .credentials: "credentials"
        case .rejected: "rejected"
        }
    }
}

extension PublishOutcome {
    static let metricLabels = ["delivered", "unknown_node", "forbidden", "token_removed", "retrying", "not_delivered", "unconfirmed", "overloaded", "failed"]

    var metricLabel: String {
        switch self {
        case .delivered: "delivered"
        case .unknownNode: "unknown_node"
        case .forbidden: "forbidden"
        case .tokenRemoved: "token_removed"
        case .retrying: "retrying"
        case .notDelivered: "not_delivered"
        case .unconfirmed: "unconfirmed"
        case .overloaded: "overloaded"
        case .failed: "failed"
        }
    }
}
