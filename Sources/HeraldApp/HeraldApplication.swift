import APNs
import FCM
import HeraldAdmin
import HeraldBuildInfo
import HeraldCore
import HeraldHTTP2
import HeraldPostgres
import HeraldSQLite
import HeraldSupport
import HeraldXMPP
import Foundation
import Logging
import PostgresNIO
import Prometheus
import ServiceLifecycle
import UnixSignals
import WebPush
import XMLStream
import XMPPComponent

/// Every long-running part of Herald, built from one configuration. The executable runs it under
/// signal handling; tests run the same graph.
public struct HeraldApplication: Sendable {
    public let configuration: HeraldConfiguration
    public let components: [ComponentService]
    private let unifiedPushTokens: UnifiedPushEndpointTokens?
    public let store: any RegistrationStore
    public let registrations: RegistrationService
    public let dispatcher: PushDispatcher<SystemClock>
    public let metricsRegistry: PrometheusCollectorRegistry
    private let metrics: HeraldMetrics
    private let vendorClients: VendorClients
    /// PostgreSQL's connection pool, run first in the service group and stopped last; nil on SQLite.
    private let storeClient: PostgresClient?
    private let reloadConfiguration: (@Sendable () throws -> HeraldConfiguration)?
    private let logger: Logger

    /// Builds the service graph; `store` defaults to the SQLite database named in the configuration.
    /// `reloadConfiguration` reads the configuration again on SIGHUP; without it SIGHUP is not handled.
    public init(
        configuration: HeraldConfiguration,
        logger: Logger,
        store: (any RegistrationStore)? = nil,
        reloadConfiguration: (@Sendable () throws -> HeraldConfiguration)? = nil
    ) throws {
        self.configuration = configuration
        self.logger = logger
        self.reloadConfiguration = reloadConfiguration
        let instance: String
        if let store {
            self.store = store
            storeClient = nil
            instance = "local"
        } else {
            switch configuration.storage {
            case .sqlite(let path, let cacheSize):
                self.store = try SQLiteRegistrationStore(path: path, cacheCapacity: cacheSize)
                storeClient = nil
                // One instance per file: the pending pushes a previous run held are this run's.
                instance = "local"
            case .postgres(let settings):
                let client = PostgresClient(configuration: try settings.clientConfiguration(), backgroundLogger: logger)
                self.store = PostgresRegistrationStore(client: client, logger: logger, cacheCapacity: settings.cacheSize)
                storeClient = client
                // Unique per process: another instance takes this one's pending pushes only once its
                // lease runs out (it died) or it released them (it stopped).
                instance = "\(ProcessInfo.processInfo.hostName)-\(getpid())-\(UInt16.random(in: .min ... .max))"
                logger.info("store is postgres", metadata: [LogKey.storeAddress: "\(settings.redactedDescription)"])
            }
        }
        let store = self.store
        metricsRegistry = PrometheusCollectorRegistry()
        let metricsFactory = DescribedMetricsFactory(registry: metricsRegistry, durationBuckets: [
            .milliseconds(1), .milliseconds(2), .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50),
            .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(2), .seconds(5), .seconds(10),
        ])
        let metrics = HeraldMetrics(factory: metricsFactory, apps: configuration.apps.map(\.app.name))
        metrics.gauge("herald_build_info", 1, dimensions: BuildInfo.current.metricLabels)
        metrics.gauge("herald_retry_queue_capacity", configuration.delivery.maximumQueuedPushes)
        let registrations = RegistrationService(
            store: store,
            policy: configuration.registrationPolicy,
            hashKey: configuration.registrationSettings.hashKey,
            metrics: metrics
        )
        self.registrations = registrations

        let vendors = try VendorSet(apps: configuration.apps, logger: logger, metrics: metrics)
        self.vendorClients = VendorClients(initial: vendors)
        let dispatcher = PushDispatcher(
            store: store,
            providers: vendors.providers,
            contentPolicies: Dictionary(uniqueKeysWithValues: configuration.apps.map { ($0.app.name, $0.content) }),
            stateless: configuration.stateless,
            policy: configuration.delivery,
            clock: SystemClock(),
            instance: instance,
            logger: logger,
            metrics: metrics
        )
        self.dispatcher = dispatcher
        self.metrics = metrics

        let unifiedPushTokens = configuration.unifiedPush.map { UnifiedPushEndpointTokens(secret: $0.secret) }
        self.unifiedPushTokens = unifiedPushTokens
        components = configuration.components.map { component in
            var router = ComponentRouter.pushService()
            let context = RegistrationContext(
                apps: configuration.appDirectory(for: component.domain),
                registrations: registrations,
                supportsEncryptedPayloads: true
            )
            router.registerRegistrationCommands(context)
            router.registerPublishHandler(PublishHandler(dispatcher: dispatcher))
            if let unifiedPush = configuration.unifiedPush, let unifiedPushTokens {
                router.registerUnifiedPush(UnifiedPushRegisterHandler(settings: UnifiedPushRegistrationSettings(
                    tokens: unifiedPushTokens, publicURL: unifiedPush.publicURL, registrationLifetime: unifiedPush.registrationLifetime,
                    allowedDomains: unifiedPush.allowedDomains(forComponent: component.domain)
                )))
            }
            return ComponentService(
                configuration: component, router: router, logger: logger,
                stanzaSkipped: { metrics.stanzaSkipped(kind: $0, reason: $1) }
            )
        }
    }

    // MARK: Readiness and metrics

    /// What `/ready` reports: every component connected, the store answering, every app's credentials loaded.
    public func readiness() async -> [ReadinessCheck] {
        var checks = components.map { component in
            let connected = component.status.isConnected
            // A standby is healthy and ready to take over; it is not receiving, and says so.
            if component.status.isStandby {
                return ReadinessCheck(
                    name: "component \(component.configuration.domain)", ready: true,
                    detail: "standby: another connection holds the domain"
                )
            }
            return ReadinessCheck(
                name: "component \(component.configuration.domain)",
                ready: connected,
                detail: connected ? "connected" : (component.status.lastDisconnectReason.map { "not connected: \($0)" } ?? "connecting")
            )
        }
        do {
            let count = try await store.count()
            checks.append(ReadinessCheck(name: "store", ready: true, detail: "\(count) registrations"))
        } catch {
            checks.append(ReadinessCheck(name: "store", ready: false, detail: "unreachable"))
        }
        let loaded = vendorClients.current.loaded
        for app in configuration.apps {
            let expected = app.app.services.map(\.rawValue).sorted()
            let have = loaded[app.app.name, default: []].sorted()
            checks.append(ReadinessCheck(
                name: "credentials \(app.app.name)",
                ready: have == expected,
                detail: expected.isEmpty ? "no vendors configured" : "loaded: \(have.joined(separator: ", "))"
            ))
        }
        return checks
    }

    /// Sets the gauges a scrape reads: retry queue depth, registrations, component connections.
    public func sampleGauges() async {
        metrics.gauge("herald_retry_queue_depth", dispatcher.queuedPushes)
        metrics.gauge("herald_publishes_held", dispatcher.heldReplies)
        if let count = try? await store.count() { metrics.gauge("herald_registrations", count) }
        for component in components {
            metrics.gauge("herald_component_connected", component.status.isConnected ? 1 : 0, dimensions: [("domain", component.configuration.domain)])
        }
    }

    var adminDependencies: AdminDependencies {
        let configuration = configuration
        let dispatcher = dispatcher
        return AdminDependencies(
            readiness: { await self.readiness() },
            metricsRegistry: metricsRegistry,
            sampleGauges: { await self.sampleGauges() },
            registrations: registrations,
            apps: AppDirectory(apps: configuration.apps.map(\.app), defaultApp: configuration.apps.count == 1 ? configuration.apps[0].app.name : nil),
            pubsubService: { name in
                guard let app = configuration.apps.first(where: { $0.app.name == name }) else { return nil }
                return app.components.first ?? configuration.components.first?.domain
            },
            sendTestPush: { node in try await dispatcher.sendTestPush(node: node) },
            parseAccount: AccountAddress.parse,
            componentApps: { domain in
                configuration.components.contains { $0.domain == domain } ? configuration.appDirectory(for: domain) : nil
            }
        )
    }

    // MARK: Reloading credentials

    /// Reads the configuration again and swaps every vendor client for one with the new credentials.
    /// The component connections stay up; a configuration that does not load leaves the old clients.
    /// Returns whether the new credentials are in use.
    @discardableResult
    public func reloadCredentials() async -> Bool {
        guard let reloadConfiguration else { return false }
        do {
            let fresh = try reloadConfiguration()
            let known = Set(configuration.apps.map(\.app.name))
            if Set(fresh.apps.map(\.app.name)) != known || fresh.components.map(\.domain) != configuration.components.map(\.domain) {
                logger.warning("apps or components changed: they take effect after a restart; reloading credentials only")
            }
            let vendors = try VendorSet(apps: fresh.apps.filter { known.contains($0.app.name) }, logger: logger, metrics: metrics)
            dispatcher.replaceProviders(vendors.providers)
            vendorClients.replace(with: vendors)
            logger.info("credentials reloaded", metadata: [LogKey.apps: "\(vendors.loaded.keys.sorted().joined(separator: ","))"])
            return true
        } catch {
            logger.error("credentials not reloaded: keeping the ones in use", metadata: [LogKey.reason: "\(error)"])
            return false
        }
    }

    // MARK: Running

    /// The service group: vendor clients first, then the dispatcher, then the XMPP components, so
    /// shutdown runs in reverse and components stop taking publishes before anything they depend on
    /// goes away. The admin server comes first of all so `/health` answers until the very end.
    public func serviceGroup(
        signals: Bool = true,
        onAdminListening: @escaping @Sendable (Int) async -> Void = { _ in },
        onUnifiedPushListening: @escaping @Sendable (Int) async -> Void = { _ in }
    ) -> ServiceGroup {
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = []
        if let storeClient { services.append(.init(service: storeClient)) }
        if let store = store as? PostgresRegistrationStore { services.append(.init(service: RegistrationCacheListener(store: store))) }
        if let store = store as? SQLiteRegistrationStore { services.append(.init(service: SQLiteCacheWatcher(store: store))) }
        if let admin = configuration.admin {
            services.append(.init(service: AdminServer(
                dependencies: adminDependencies, configuration: admin, logger: logger, onListening: onAdminListening
            )))
        }
        if let unifiedPush = configuration.unifiedPush, let unifiedPushTokens {
            let components = components
            let routes = UnifiedPushRoutes(
                tokens: unifiedPushTokens, rateLimit: unifiedPush.rateLimit, rateWindow: unifiedPush.rateWindow, metrics: metrics
            ) { token, payload in
                await Self.deliver(token, payload, through: components)
            }
            services.append(.init(service: UnifiedPushServer(
                routes: routes, configuration: unifiedPush.server, logger: logger, onListening: onUnifiedPushListening
            )))
        }
        services += [.init(service: vendorClients), .init(service: dispatcher)]
        if signals, reloadConfiguration != nil {
            services.append(.init(service: CredentialReloader(application: self)))
        }
        services += components.map { .init(service: $0) }
        var configuration = ServiceGroupConfiguration(services: services, logger: logger)
        if signals {
            configuration.gracefulShutdownSignals = [.sigterm, .sigint]
        }
        // Draining, closing each stream (up to 2 s) and storing what waits, with room to spare.
        let drain = self.configuration.components.map(\.drainTimeout).max() ?? .seconds(25)
        configuration.maximumGracefulShutdownDuration = drain + .seconds(10)
        return ServiceGroup(configuration: configuration)
    }

    /// Hands a UnifiedPush message to its distributor as Prosody's `mod_unified_push` does: an iq
    /// `<push/>` from the component the endpoint was registered at, answered by the client itself.
    static func deliver(_ token: UnifiedPushEndpointToken, _ payload: [UInt8], through components: [ComponentService]) async -> UnifiedPushDelivery {
        guard let component = components.first(where: { $0.configuration.domain == token.component }) else { return .rejected }
        var push = StreamElement.text("push", namespace: UnifiedPushNamespace.unifiedPush, Data(payload).base64EncodedString())
        push[attribute: "instance"] = token.instance
        push[attribute: "application"] = token.application
        let iq = StreamElement("iq", namespace: Stanza.componentNamespace, ["type": "set", "to": token.jid, "from": token.component, "id": "up-\(UUID().uuidString)"]).appending(push)
        do {
            _ = try await component.request(iq, timeout: .seconds(10))
            return .delivered
        } catch ComponentRequestError.stanzaError(let error) {
            switch error.condition {
            case "item-not-found", "feature-not-implemented": return .rejected
            case "service-unavailable", "recipient-unavailable": return .unavailable
            default: return .failed
            }
        } catch {
            // Not connected, the link dropped, or no answer in time.
            return .unavailable
        }
    }

    public func run() async throws {
        logger.info("herald starting", metadata: [LogKey.components: "\(components.map(\.configuration.domain).joined(separator: ","))"])
        try await serviceGroup().run()
        logger.info("herald stopped")
    }
}

/// The vendor clients built from one set of app credentials.
struct VendorSet: Sendable {
    var providers = PushProviders()
    /// The vendors loaded per app, for readiness.
    var loaded: [String: [String]] = [:]
    var shutdowns: [@Sendable () async -> Void] = []

    init() {}

    /// Web Push clients are made last, once nothing can fail: one released without `shutdown()` stops
    /// the process (AsyncHTTPClient checks in its deinit), and a set that throws part-way is released,
    /// at start or on a credential reload. The HTTP/2 clients of APNs and FCM close themselves then.
    init(apps: [AppConfiguration], logger: Logger, metrics: HeraldMetrics) throws {
        var webPushApps: [(name: String, webPush: WebPushAppConfiguration, logger: Logger)] = []
        for var app in apps {
            var vendorLogger = logger
            vendorLogger[metadataKey: LogKey.app] = "\(app.app.name)"
            app.apns?.provider.connection.onEvent = Self.recorder(.apns, metrics)
            app.fcm?.provider.connection.onEvent = Self.recorder(.fcm, metrics)
            if let apns = app.apns {
                let authentication: APNsProvider.Authentication = switch apns.credentials {
                case .token(let key, let keyID, let teamID): .token(APNsTokenManager(key: key, keyID: keyID, teamID: teamID))
                case .certificate: .certificate
                }
                let provider = try APNsProvider(configuration: apns.provider, authentication: authentication, logger: vendorLogger)
                add(provider, app: app.app.name, service: .apns) { await provider.shutdown() }
            }
            if let fcm = app.fcm {
                let provider = try FCMProvider(account: fcm.account, configuration: fcm.provider, logger: vendorLogger)
                add(provider, app: app.app.name, service: .fcm) { await provider.shutdown() }
            }
            if let webPush = app.webPush { webPushApps.append((app.app.name, webPush, vendorLogger)) }
        }
        for (name, webPush, vendorLogger) in webPushApps {
            let provider = WebPushProvider(
                vapid: VAPID(key: webPush.vapidKey, subject: webPush.subject),
                configuration: webPush.provider,
                logger: vendorLogger
            )
            add(provider, app: name, service: .webpush) { await provider.shutdown() }
        }
    }

    private static func recorder(_ service: PushVendor, _ metrics: HeraldMetrics) -> @Sendable (HTTP2ConnectionEvent) -> Void {
        { event in
            switch event {
            case .opened: metrics.vendorConnection(service, event: .opened)
            case .connectFailed: metrics.vendorConnection(service, event: .connectFailed)
            case .retired(let reason): metrics.vendorConnection(service, event: .retired(reason: reason.rawValue))
            case .pingTimedOut: metrics.vendorConnection(service, event: .pingTimedOut)
            case .requestRerouted: metrics.vendorConnection(service, event: .requestRerouted)
            }
        }
    }

    private mutating func add(_ provider: any PushProvider, app: String, service: PushVendor, shutdown: @escaping @Sendable () async -> Void) {
        providers[app: app, service: service] = provider
        loaded[app, default: []].append(service.rawValue)
        shutdowns.append(shutdown)
    }

    func shutdown() async {
        for shutdown in shutdowns { await shutdown() }
    }
}

/// Keeps the PostgreSQL store's registration cache coherent with every instance's writes, until the
/// service group shuts down.
private struct RegistrationCacheListener: Service {
    let store: PostgresRegistrationStore

    func run() async throws {
        await cancelWhenGracefulShutdown { await store.keepCacheCoherent() }
    }
}

/// Keeps the SQLite store's delivery cache coherent with other processes' writes to the file.
private struct SQLiteCacheWatcher: Service {
    let store: SQLiteRegistrationStore

    func run() async throws {
        await cancelWhenGracefulShutdown { await store.keepCacheCoherent() }
    }
}
