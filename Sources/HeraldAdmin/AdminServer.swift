import Hummingbird
import Logging

/// Where the admin server listens and the token that guards its registration API.
public struct AdminConfiguration: Sendable, Hashable {
    public var host: String
    public var port: Int
    /// Bearer token for `/v1`; nil turns the registration API off.
    public var token: String?

    public init(host: String = "127.0.0.1", port: Int = 8480, token: String? = nil) {
        self.host = host
        self.port = port
        self.token = token
    }
}

public enum AdminServer {
    /// The admin HTTP server as a service for Herald's service group.
    public static func application(
        dependencies: AdminDependencies,
        configuration: AdminConfiguration,
        logger: Logger,
        onListening: @escaping @Sendable (Int) async -> Void = { _ in }
    ) -> some ApplicationProtocol {
        Application(
            router: AdminRoutes.router(dependencies, token: configuration.token),
            configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "herald"),
            onServerRunning: { channel in
                let port = channel.localAddress?.port ?? configuration.port
                logger.info("admin server listening", metadata: ["admin.host": "\(configuration.host)", "admin.port": "\(port)"])
                await onListening(port)
            },
            logger: logger
        )
    }
}
