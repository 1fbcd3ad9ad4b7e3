import Foundation
import HeraldCore
import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle

/// Where the public UnifiedPush endpoint listens.
public struct UnifiedPushServerConfiguration: Sendable, Hashable {
    public var host: String
    public var port: Int

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }
}

/// The UnifiedPush endpoint could not start; says where and what to change.
public struct UnifiedPushServerError: Error, CustomStringConvertible {
    public var address: String
    public var reason: String
    public var description: String {
        "unified push endpoint cannot listen on \(address): \(reason) (stop what listens there, or set unified_push.port / HERALD_UNIFIED_PUSH__PORT)"
    }
}

/// The public UnifiedPush endpoint as a service for Herald's service group: a listener of its own,
/// apart from the admin server, meant to sit behind the TLS of the public URL.
public struct UnifiedPushServer: Service {
    private let application: any Service
    private let address: String

    public init(
        routes: UnifiedPushRoutes,
        configuration: UnifiedPushServerConfiguration,
        logger: Logger,
        onListening: @escaping @Sendable (Int) async -> Void = { _ in }
    ) {
        application = Application(
            router: routes.router(),
            configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "herald"),
            onServerRunning: { channel in
                let port = channel.localAddress?.port ?? configuration.port
                logger.info("unified push endpoint listening", metadata: [LogKey.unifiedPushHost: "\(configuration.host)", LogKey.unifiedPushPort: "\(port)"])
                await onListening(port)
            },
            logger: logger
        )
        address = "\(configuration.host):\(configuration.port)"
    }

    public func run() async throws {
        do {
            try await application.run()
        } catch let error as IOError {
            throw UnifiedPushServerError(address: address, reason: error.errnoCode == EADDRINUSE ? "address in use" : "\(error)")
        }
    }
}
