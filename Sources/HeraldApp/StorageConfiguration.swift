import HeraldPostgres

/// Where registrations and pending pushes live (`storage.*`): SQLite embedded for one instance, or
/// PostgreSQL shared by several.
public enum StorageConfiguration: Sendable, Hashable {
    /// `cacheSize`: registrations kept in memory for delivering publishes (`storage.cache_size`).
    case sqlite(path: String, cacheSize: Int = 20_000)
    case postgres(PostgresSettings)

    init(section: ConfigSection) throws(ConfigurationError) {
        let engine = try section.oneOf("engine", ["sqlite", "postgres"], default: "sqlite")
        let path = try section.string("path", default: "herald.sqlite")
        // Read whatever the engine, as `path` is: a key given is a key checked.
        let cacheSize = try section.int("cache_size", default: 20_000, range: 0...10_000_000)
        guard engine == "postgres" else {
            self = .sqlite(path: path, cacheSize: cacheSize)
            return
        }
        let postgres = try section.section("postgres")
        var settings = PostgresSettings(
            host: try postgres.string("host", default: "127.0.0.1"),
            port: try postgres.int("port", default: 5432, range: 1...65535),
            database: try postgres.string("database", default: "herald"),
            user: try postgres.string("user", default: "herald"),
            password: try postgres.string("password"),
            tls: PostgresSettings.TLSMode(rawValue: try postgres.oneOf("tls", PostgresSettings.TLSMode.allCases.map(\.rawValue), default: "prefer"))
                ?? .prefer,
            caFile: try postgres.string("ca_file"),
            maximumConnections: try postgres.int("max_connections", default: 10, range: 1...1000),
            cacheSize: try postgres.int("cache_size", default: 20_000, range: 0...10_000_000)
        )
        if let url = try postgres.string("url") {
            do {
                settings = try PostgresSettings(url: url, defaults: settings)
            } catch {
                throw ConfigurationError(
                    key: postgres.path + ".url", problem: "\(error)", fix: "postgres://USER@HOST:PORT/DATABASE?sslmode=require"
                )
            }
        }
        self = .postgres(settings)
    }

    /// The SQLite file, for the commands that read it directly; nil on PostgreSQL.
    public var sqlitePath: String? {
        if case .sqlite(let path, _) = self { return path }
        return nil
    }
}
