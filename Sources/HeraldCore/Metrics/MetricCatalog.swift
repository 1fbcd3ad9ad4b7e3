/// Every metric Herald exports, with the HELP text `/metrics` shows beside it.
///
/// One list serves the exporter (HELP lines), README.md's metrics table and the alert rules and
/// dashboard in `deploy/observability/`, whose tests hold them to it.
public enum MetricCatalog {
    public struct Entry: Sendable, Hashable {
        public enum Kind: String, Sendable { case counter, gauge, histogram }

        public var name: String
        public var kind: Kind
        public var labels: [String]
        public var help: String
    }

    /// The app label of a publish whose registration was not found (or not looked up).
    public static let noApp = "none"

    public static let all: [Entry] = [
        Entry(name: "herald_publishes_total", kind: .counter, labels: ["app", "outcome"],
              help: "Publishes answered, by app and by what Herald made of them."),
        Entry(name: "herald_publishes_held", kind: .gauge, labels: [],
              help: "Publishes waiting for the verdict on the push at the end of their burst."),
        Entry(name: "herald_publish_duration_seconds", kind: .histogram, labels: ["app"],
              help: "From a publish's arrival at the dispatcher to its answer."),
        Entry(name: "herald_vendor_requests_total", kind: .counter, labels: ["app", "vendor", "status", "reason"],
              help: "Requests to APNs, FCM and Web Push, by result class and the vendor's reason."),
        Entry(name: "herald_vendor_request_duration_seconds", kind: .histogram, labels: ["app", "vendor"],
              help: "Time from a vendor request to its answer."),
        Entry(name: "herald_tokens_removed_total", kind: .counter, labels: ["vendor"],
              help: "Registrations removed because the vendor declared the token dead."),
        Entry(name: "herald_registrations_refused_total", kind: .counter, labels: ["reason"],
              help: "Registration requests refused by an abuse limit."),
        Entry(name: "herald_unified_push_requests_total", kind: .counter, labels: ["status"],
              help: "Pushes application servers sent to UnifiedPush endpoints, by the HTTP status they got."),
        Entry(name: "herald_stanzas_skipped_total", kind: .counter, labels: ["kind", "reason"],
              help: "Inbound stanzas over a size or depth limit, skipped without dropping the stream."),
        Entry(name: "herald_vendor_connections_opened_total", kind: .counter, labels: ["vendor"],
              help: "HTTP/2 connections to a vendor opened."),
        Entry(name: "herald_vendor_connect_failures_total", kind: .counter, labels: ["vendor"],
              help: "Vendor connection attempts that failed (refused, TLS, proxy, or no SETTINGS in time)."),
        Entry(name: "herald_vendor_connections_retired_total", kind: .counter, labels: ["vendor", "reason"],
              help: "Vendor connections that stopped taking requests, by reason."),
        Entry(name: "herald_vendor_pings_timed_out_total", kind: .counter, labels: ["vendor"],
              help: "HTTP/2 PINGs a vendor did not answer in time."),
        Entry(name: "herald_vendor_requests_rerouted_total", kind: .counter, labels: ["vendor"],
              help: "Requests a connection gave back unprocessed that went out on another."),
        Entry(name: "herald_retry_queue_depth", kind: .gauge, labels: [],
              help: "Pushes waiting for a retry or the end of a burst."),
        Entry(name: "herald_retry_queue_capacity", kind: .gauge, labels: [],
              help: "The retry queue's bound (delivery.max_queued)."),
        Entry(name: "herald_registrations", kind: .gauge, labels: [],
              help: "Registrations in the store."),
        Entry(name: "herald_component_connected", kind: .gauge, labels: ["domain"],
              help: "1 while the component's XMPP connection is up, else 0."),
        Entry(name: "herald_build_info", kind: .gauge, labels: ["version", "commit", "swift_nio", "swift_nio_ssl", "swift_nio_http2", "swift_crypto"],
              help: "Always 1; the labels say which Herald and which packages this process was built from."),
    ]

    private static let byName: [String: Entry] = Dictionary(uniqueKeysWithValues: all.map { ($0.name, $0) })

    public static func entry(named name: String) -> Entry? { byName[name] }
}
