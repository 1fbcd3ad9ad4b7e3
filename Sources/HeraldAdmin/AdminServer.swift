import Foundation
import HeraldCore
import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle

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

/// A listener of Herald's (the admin server, the UnifiedPush endpoint) could not start; says which,
/// where, and what to change.
public struct ListenerError: Error, CustomStringConvertible {
    public var listener: String
    public var address: String
    public var reason: String
    public var fix: String
    public var description: String { "\(listener) cannot listen on \(address): \(reason) (\(fix))" }

    static func admin(_ address: String, _ reason: String) -> ListenerError {
        ListenerError(
            listener: "admin server", address: address, reason: reason,
            fix: "stop what listens there, or set admin.port / HERALD_ADMIN__PORT, or admin.enabled: false"
        )
    }

    static func unifiedPush(_ address: String, _ reason: String) -> ListenerError {
        ListenerError(listener: "unified push endpoint", address: address, reason: reason, fix: "stop what listens there, or set unified_push.port / HERALD_UNIFIED_PUSH__PORT")
    }

    /// What a failed bind says, in words.
    static func reason(_ error: IOError) -> String {
        error.errnoCode == EADDRINUSE ? "address in use" : "\(error)"
    }
}

/// The admin HTTP server as a service for Herald's service group.
public struct AdminServer: Service {
    private let application: any Service
    private let address: String

    public init(
        dependencies: AdminDependencies,
        configuration: AdminConfiguration,
        logger: Logger,
        onListening: @escaping @Sendable (Int) async -> Void = { _ in }
    ) {
        application = Application(
            router: AdminRoutes.router(dependencies, token: configuration.token),
            configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "herald"),
            onServerRunning: { channel in
                let port = channel.localAddress?.port ?? configuration.port
                logger.info("admin server listening", metadata: [LogKey.adminHost: "\(configuration.host)", LogKey.adminPort: "\(port)"])
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
            throw ListenerError.admin(address, ListenerError.reason(error))
        }
    }
}
