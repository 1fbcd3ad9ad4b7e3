import Foundation
import NIOSSL
import PostgresNIO

/// Where the PostgreSQL store is and how to reach it: what `storage.postgres.*` configures and what
/// `herald store migrate --to postgres:URL` takes.
public struct PostgresSettings: Sendable, Hashable {
    public enum TLSMode: String, Sendable, Hashable, CaseIterable {
        /// Plain TCP, for a server on the same host or a private network.
        case disable
        /// TLS if the server offers it, without checking its certificate (libpq's `prefer`).
        case prefer
        /// TLS or no connection, with the server's certificate checked against `caFile` (or the
        /// system's roots) and its name (libpq's `verify-full`).
        case require
    }

    public var host: String
    public var port: Int
    public var database: String
    public var user: String
    public var password: String?
    public var tls: TLSMode
    /// PEM roots that sign the server's certificate, for `require`.
    public var caFile: String?
    /// The pool's bound: connections this instance opens at most.
    public var maximumConnections: Int
    /// Registrations kept in memory for delivering publishes (about 1.2 KB each); 0: none.
    public var cacheSize: Int

    public init(
        host: String = "127.0.0.1", port: Int = 5432, database: String = "herald", user: String = "herald", password: String? = nil,
        tls: TLSMode = .prefer, caFile: String? = nil, maximumConnections: Int = 10, cacheSize: Int = 20_000
    ) {
        self.cacheSize = cacheSize
        self.host = host
        self.port = port
        self.database = database
        self.user = user
        self.password = password
        self.tls = tls
        self.caFile = caFile
        self.maximumConnections = maximumConnections
    }

    public struct URLError: Error, Sendable, Hashable, CustomStringConvertible {
        public var description: String
    }

    /// Reads `postgres://user:password@host:port/database?sslmode=disable|prefer|require`; the parts
    /// left out keep `defaults`. `sslmode=verify-full` reads as `require`.
    public init(url: String, defaults: PostgresSettings = PostgresSettings()) throws {
        guard let components = URLComponents(string: url), ["postgres", "postgresql"].contains(components.scheme ?? "") else {
            throw URLError(description: "not a postgres:// URL")
        }
        self = defaults
        if let host = components.host, !host.isEmpty { self.host = host }
        if let port = components.port { self.port = port }
        if let user = components.user, !user.isEmpty { self.user = user.removingPercentEncoding ?? user }
        if let password = components.password { self.password = password.removingPercentEncoding ?? password }
        let path = components.path.trimmingCharacters(in: CharacterSet(charactersIn: "/"))
        if !path.isEmpty { database = path }
        for item in components.queryItems ?? [] {
            switch (item.name, item.value ?? "") {
            case ("sslmode", "disable"): tls = .disable
            case ("sslmode", "prefer"), ("sslmode", "allow"): tls = .prefer
            case ("sslmode", "require"), ("sslmode", "verify-ca"), ("sslmode", "verify-full"): tls = .require
            case ("sslmode", let other): throw URLError(description: "sslmode \(other) is not one of disable, prefer, require")
            case ("sslrootcert", let file): caFile = file
            default: throw URLError(description: "unknown URL parameter \(item.name)")
            }
        }
    }

    /// The client's configuration; reads `caFile`.
    public func clientConfiguration() throws -> PostgresClient.Configuration {
        let tlsConfiguration: PostgresClient.Configuration.TLS
        switch tls {
        case .disable:
            tlsConfiguration = .disable
        case .prefer:
            var configuration = TLSConfiguration.makeClientConfiguration()
            configuration.certificateVerification = .none
            tlsConfiguration = .prefer(configuration)
        case .require:
            var configuration = TLSConfiguration.makeClientConfiguration()
            if let caFile { configuration.trustRoots = .file(caFile) }
            tlsConfiguration = .require(configuration)
        }
        var configuration = PostgresClient.Configuration(
            host: host, port: port, username: user, password: password, database: database, tls: tlsConfiguration
        )
        configuration.options.maximumConnections = maximumConnections
        configuration.options.minimumConnections = min(2, maximumConnections)
        configuration.options.connectTimeout = .seconds(5)
        return configuration
    }

    /// Where it points, without the password: for logs and `check`.
    public var redactedDescription: String { "postgres://\(user)@\(host):\(port)/\(database)" }
}
