import APNs
import FCM
import HeraldCore
import WebPush
import HeraldSQLite
import HeraldXMPP
import Logging
import ServiceLifecycle
import XMPPComponent

/// Every long-running part of Herald, built from one configuration. The executable runs it under
/// signal handling; tests run the same graph.
public struct HeraldApplication: Sendable {
    public let configuration: HeraldConfiguration
    public let components: [ComponentService]
    public let store: any RegistrationStore
    public let registrations: RegistrationService
    public let dispatcher: PushDispatcher<ContinuousClock>
    private let vendorClients: VendorClients
    private let logger: Logger

    /// Builds the service graph; `store` defaults to the SQLite database named in the configuration.
    public init(configuration: HeraldConfiguration, logger: Logger, store: (any RegistrationStore)? = nil) throws {
        self.configuration = configuration
        self.logger = logger
        let store = try store ?? SQLiteRegistrationStore(path: configuration.databasePath)
        self.store = store
        let registrations = RegistrationService(
            store: store,
            policy: configuration.registrationPolicy,
            hashKey: configuration.registrationSettings.hashKey
        )
        self.registrations = registrations

        var providers = PushProviders()
        var shutdowns: [@Sendable () async -> Void] = []
        for app in configuration.apps {
            var vendorLogger = logger
            vendorLogger[metadataKey: "push.app"] = "\(app.app.name)"
            if let apns = app.apns {
                let authentication: APNsProvider.Authentication = switch apns.credentials {
                case .token(let key, let keyID, let teamID): .token(APNsTokenManager(key: key, keyID: keyID, teamID: teamID))
                case .certificate: .certificate
                }
                let provider = try APNsProvider(configuration: apns.provider, authentication: authentication, logger: vendorLogger)
                providers[app: app.app.name, service: .apns] = provider
                shutdowns.append { await provider.shutdown() }
            }
            if let fcm = app.fcm {
                let provider = try FCMProvider(account: fcm.account, configuration: fcm.provider, logger: vendorLogger)
                providers[app: app.app.name, service: .fcm] = provider
                shutdowns.append { await provider.shutdown() }
            }
            if let webPush = app.webPush {
                let provider = try WebPushProvider(
                    vapid: VAPID(key: webPush.vapidKey, subject: webPush.subject),
                    configuration: webPush.provider,
                    logger: vendorLogger
                )
                providers[app: app.app.name, service: .webpush] = provider
                shutdowns.append { await provider.shutdown() }
            }
        }
        self.vendorClients = VendorClients(shutdowns: shutdowns)
        let dispatcher = PushDispatcher(
            store: store,
            providers: providers,
            contentPolicies: Dictionary(uniqueKeysWithValues: configuration.apps.map { ($0.app.name, $0.content) }),
            policy: configuration.delivery,
            clock: ContinuousClock(),
            logger: logger
        )
        self.dispatcher = dispatcher

        components = configuration.components.map { component in
            var router = ComponentRouter()
            let context = RegistrationContext(
                apps: configuration.appDirectory(for: component.domain),
                registrations: registrations,
                supportsEncryptedPayloads: true
            )
            router.registerRegistrationCommands(context)
            router.registerPublishHandler(PublishHandler(dispatcher: dispatcher))
            return ComponentService(configuration: component, router: router, logger: logger)
        }
    }

    /// The service group: storage first, then providers, then the XMPP components, so shutdown runs in
    /// reverse and components stop taking publishes before anything they depend on goes away.
    public func serviceGroup(signals: Bool = true) -> ServiceGroup {
        let services: [ServiceGroupConfiguration.ServiceConfiguration] =
            [.init(service: vendorClients), .init(service: dispatcher)] + components.map { .init(service: $0) }
        var configuration = ServiceGroupConfiguration(services: services, logger: logger)
        if signals {
            configuration.gracefulShutdownSignals = [.sigterm, .sigint]
        }
        configuration.maximumGracefulShutdownDuration = .seconds(30)
        return ServiceGroup(configuration: configuration)
    }

    public func run() async throws {
        logger.info("herald starting", metadata: ["components": "\(components.map(\.configuration.domain).joined(separator: ","))"])
        try await serviceGroup().run()
        logger.info("herald stopped")
    }
}

/// Keeps the vendors' HTTP clients open until everything that sends through them has stopped (it
/// runs first, so the group shuts it down last), then closes them.
struct VendorClients: Service {
    let shutdowns: [@Sendable () async -> Void]

    func run() async throws {
        try? await gracefulShutdown()
        for shutdown in shutdowns { await shutdown() }
    }
}
