import HeraldCore
import Logging
import ServiceLifecycle
import XMPPComponent

/// Every long-running part of Herald, built from one configuration. The executable runs it under
/// signal handling; tests run the same graph.
public struct HeraldApplication: Sendable {
    public let configuration: HeraldConfiguration
    public let components: [ComponentService]
    private let logger: Logger

    public init(configuration: HeraldConfiguration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
        components = configuration.components.map { component in
            ComponentService(configuration: component, router: Self.makeRouter(for: component), logger: logger)
        }
    }

    private static func makeRouter(for component: ComponentConfiguration) -> ComponentRouter {
        ComponentRouter()
    }

    /// The service group: storage first, then providers, then the XMPP components, so shutdown runs in
    /// reverse and components stop taking publishes before anything they depend on goes away.
    public func serviceGroup(signals: Bool = true) -> ServiceGroup {
        let services: [ServiceGroupConfiguration.ServiceConfiguration] = components.map { .init(service: $0) }
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
