import HeraldCore
import Prometheus

/// What the admin routes act on. Closures keep this target free of the XMPP and vendor targets.
public struct AdminDependencies: Sendable {
    public var readiness: @Sendable () async -> [ReadinessCheck]
    public var metricsRegistry: PrometheusCollectorRegistry
    /// Samples gauges (queue depth, registrations, connections) just before a scrape.
    public var sampleGauges: @Sendable () async -> Void
    public var registrations: RegistrationService
    public var apps: AppDirectory
    /// The pubsub service (component domain) a client names in `<enable/>` for an app's registrations.
    public var pubsubService: @Sendable (_ app: String) -> String?
    public var sendTestPush: @Sendable (_ node: String) async throws -> PushOutcome?
    /// The account an HTTP registration names, read as the XMPP commands read it (the bare JID and its
    /// domain), so a device counts against the same account whichever way it registers; nil unless it
    /// is a user's JID.
    public var parseAccount: @Sendable (_ text: String) -> (account: String, domain: String)?
    /// The apps a component domain serves; nil for a domain that is not one of Herald's components.
    public var componentApps: @Sendable (_ domain: String) -> AppDirectory?

    public init(
        readiness: @escaping @Sendable () async -> [ReadinessCheck],
        metricsRegistry: PrometheusCollectorRegistry,
        sampleGauges: @escaping @Sendable () async -> Void,
        registrations: RegistrationService,
        apps: AppDirectory,
        pubsubService: @escaping @Sendable (_ app: String) -> String?,
        sendTestPush: @escaping @Sendable (_ node: String) async throws -> PushOutcome?,
        parseAccount: @escaping @Sendable (_ text: String) -> (account: String, domain: String)?,
        componentApps: @escaping @Sendable (_ domain: String) -> AppDirectory? = { _ in nil }
    ) {
        self.readiness = readiness
        self.metricsRegistry = metricsRegistry
        self.sampleGauges = sampleGauges
        self.registrations = registrations
        self.apps = apps
        self.pubsubService = pubsubService
        self.sendTestPush = sendTestPush
        self.parseAccount = parseAccount
        self.componentApps = componentApps
    }
}
