import Foundation
import HeraldCore
import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import Logging
import NIOCore
import NIOSSL
import ServiceLifecycle

/// Where the public UnifiedPush endpoint listens, and the TLS it serves if it terminates TLS itself.
public struct UnifiedPushServerConfiguration: Sendable {
    public var host: String
    public var port: Int
    /// Nil: plain HTTP, for TLS terminated in front of Herald.
    public var tls: TLSConfiguration?

    public init(host: String, port: Int, tls: TLSConfiguration? = nil) {
        self.host = host
        self.port = port
        self.tls = tls
    }
}

/// The public UnifiedPush endpoint as a service for Herald's service group: a listener of its own,
/// apart from the admin server, public: it serves TLS itself when given a certificate, or sits behind
/// a proxy that does.
public struct UnifiedPushServer: Service {
    private let routes: UnifiedPushRoutes
    private let configuration: UnifiedPushServerConfiguration
    private let logger: Logger
    private let onListening: @Sendable (Int) async -> Void

    public init(
        routes: UnifiedPushRoutes,
        configuration: UnifiedPushServerConfiguration,
        logger: Logger,
        onListening: @escaping @Sendable (Int) async -> Void = { _ in }
    ) {
        self.routes = routes
        self.configuration = configuration
        self.logger = logger
        self.onListening = onListening
    }

    public func run() async throws {
        let address = "\(configuration.host):\(configuration.port)"
        let server: HTTPServerBuilder
        do {
            server = try configuration.tls.map { try .tls(.http1(), tlsConfiguration: $0) } ?? .http1()
        } catch {
            // The files were read with the configuration; this is BoringSSL refusing the pair.
            throw ListenerError.unifiedPush(address, "the TLS certificate and key do not make a TLS server: \(error)")
        }
        let configuration = configuration
        let logger = logger
        let onListening = onListening
        let application = Application(
            router: routes.router(),
            server: server,
            configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "herald"),
            onServerRunning: { channel in
                let port = channel.localAddress?.port ?? configuration.port
                logger.info("unified push endpoint listening", metadata: [LogKey.unifiedPushHost: "\(configuration.host)", LogKey.unifiedPushPort: "\(port)"])
                await onListening(port)
            },
            logger: logger
        )
        do {
            try await application.run()
        } catch let error as IOError {
            throw ListenerError.unifiedPush(address, ListenerError.reason(error))
        }
    }
}
