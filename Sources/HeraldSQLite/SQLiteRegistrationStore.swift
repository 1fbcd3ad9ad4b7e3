import Foundation
import GRDB
import HeraldCore

/// Registrations in an embedded SQLite database: Herald's default store.
///
/// Built on GRDB rather than sqlite-nio: GRDB brings named, ordered migrations and a WAL-mode
/// `DatabasePool` whose readers never wait for the writer, and publishes are nearly all reads. It links
/// the system SQLite (libsqlite3-dev at build time).
///
/// Durability: every save commits a transaction with SQLite's default `synchronous=FULL` in WAL mode, so
/// a registration that was answered survives `kill -9` and power loss alike.
public final class SQLiteRegistrationStore: RegistrationStore {
    private let pool: DatabasePool

    /// Opens (creating if needed) the database at `path` and brings its schema up to date.
    public init(path: String) throws {
        let directory = (path as NSString).deletingLastPathComponent
        if !directory.isEmpty {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        }
        var configuration = Configuration()
        configuration.busyMode = .timeout(5)
        pool = try DatabasePool(path: path, configuration: configuration)
        try Self.migrator.migrate(pool)
    }

    /// Migrations are named and append-only: never edit one that has shipped.
    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("2026-11-26 registrations") { db in
            try db.execute(
                sql: """
                    CREATE TABLE registration (
                        node TEXT PRIMARY KEY NOT NULL,
                        secret TEXT,
                        app TEXT NOT NULL,
                        service TEXT NOT NULL CHECK (service IN ('apns', 'fcm', 'webpush')),
                        dialect TEXT NOT NULL,
                        token TEXT NOT NULL,
                        voip_token TEXT,
                        webpush_p256dh TEXT,
                        webpush_auth TEXT,
                        environment TEXT CHECK (environment IN ('sandbox', 'production')),
                        account_domain TEXT,
                        account_key TEXT,
                        push_account TEXT,
                        channel TEXT,
                        device_key TEXT NOT NULL UNIQUE,
                        created_at DOUBLE NOT NULL,
                        updated_at DOUBLE NOT NULL,
                        last_push_at DOUBLE,
                        last_failure TEXT
                    ) WITHOUT ROWID;
                    CREATE INDEX registration_account_key ON registration (account_key);
                    """
            )
        }
        return migrator
    }

    public func registration(node: String) async throws -> Registration? {
        // The publish hot path. An indexed point read in WAL mode never waits for the writer and takes
        // microseconds, so it runs on the calling thread: hopping to GRDB's reader queue and back cost
        // ten times the read itself (herald-bench store). One SELECT is atomic by itself, so it runs
        // without a transaction, from a statement prepared once; the transaction and the compilation
        // were a third of Herald's CPU per publish (herald-bench path, perf).
        try readOnCallingThread { db in
            let statement = try db.cachedStatement(sql: "SELECT \(Self.columns) FROM registration WHERE node = ?")
            return try Row.fetchOne(statement, arguments: [node]).map(Self.registration)
        }
    }

    /// A synchronous context, so that GRDB's blocking read is chosen over its async overload.
    private func readOnCallingThread<T>(_ body: (Database) throws -> T) throws -> T {
        try pool.unsafeRead(body)
    }

    /// The columns every SELECT reads, in the order `registration(_:)` decodes them.
    private static let columns = """
        node, secret, app, service, dialect, token, voip_token, webpush_p256dh, webpush_auth, environment,
        account_domain, account_key, push_account, channel, device_key, created_at, updated_at, last_push_at, last_failure
        """

    public func registration(deviceKey: String) async throws -> Registration? {
        try await pool.read { db in
            try Row.fetchOne(db, sql: "SELECT \(Self.columns) FROM registration WHERE device_key = ?", arguments: [deviceKey]).map(Self.registration)
        }
    }

    public func save(_ registration: Registration) async throws {
        try await pool.write { db in
            try db.execute(
                sql: """
                    INSERT INTO registration (
                        node, secret, app, service, dialect, token, voip_token, webpush_p256dh, webpush_auth,
                        environment, account_domain, account_key, push_account, channel, device_key,
                        created_at, updated_at, last_push_at, last_failure
                    ) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    ON CONFLICT (node) DO UPDATE SET
                        secret = excluded.secret, app = excluded.app, service = excluded.service,
                        dialect = excluded.dialect, token = excluded.token, voip_token = excluded.voip_token,
                        webpush_p256dh = excluded.webpush_p256dh, webpush_auth = excluded.webpush_auth,
                        environment = excluded.environment, account_domain = excluded.account_domain,
                        account_key = excluded.account_key, push_account = excluded.push_account,
                        channel = excluded.channel, device_key = excluded.device_key,
                        updated_at = excluded.updated_at, last_push_at = excluded.last_push_at,
                        last_failure = excluded.last_failure
                    """,
                arguments: [
                    registration.node, registration.secret, registration.app, registration.service.rawValue,
                    registration.dialect.rawValue, registration.token, registration.voipToken,
                    registration.webPushKeys?.p256dh, registration.webPushKeys?.auth,
                    registration.environment?.rawValue, registration.accountDomain, registration.accountKey,
                    registration.pushAccount, registration.channel, registration.deviceKey,
                    registration.createdAt.timeIntervalSince1970, registration.updatedAt.timeIntervalSince1970,
                    registration.lastPushAt?.timeIntervalSince1970, registration.lastFailure,
                ]
            )
        }
    }

    public func delete(node: String) async throws -> Bool {
        try await pool.write { db in
            try db.execute(sql: "DELETE FROM registration WHERE node = ?", arguments: [node])
            return db.changesCount > 0
        }
    }

    public func count(accountKey: String) async throws -> Int {
        try await pool.read { db in
            try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM registration WHERE account_key = ?", arguments: [accountKey]) ?? 0
        }
    }

    public func count() async throws -> Int {
        try await pool.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM registration") ?? 0 }
    }

    public func list(after node: String?, limit: Int) async throws -> [Registration] {
        try await pool.read { db in
            try Row.fetchAll(
                db,
                sql: "SELECT \(Self.columns) FROM registration WHERE node > ? ORDER BY node LIMIT ?",
                arguments: [node ?? "", limit]
            ).map(Self.registration)
        }
    }

    /// Inserts many registrations in large transactions, for bulk loading (benchmarks, imports).
    public func saveAll(_ registrations: [Registration]) async throws {
        for chunk in stride(from: 0, to: registrations.count, by: 10_000) {
            let slice = registrations[chunk..<min(chunk + 10_000, registrations.count)]
            try await pool.write { db in
                let statement = try db.makeStatement(
                    sql: """
                        INSERT OR REPLACE INTO registration (
                            node, secret, app, service, dialect, token, account_domain, account_key, device_key,
                            created_at, updated_at
                        ) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                        """
                )
                for registration in slice {
                    try statement.execute(arguments: [
                        registration.node, registration.secret, registration.app, registration.service.rawValue,
                        registration.dialect.rawValue, registration.token, registration.accountDomain,
                        registration.accountKey, registration.deviceKey,
                        registration.createdAt.timeIntervalSince1970, registration.updatedAt.timeIntervalSince1970,
                    ])
                }
            }
        }
    }

    /// Bytes the database occupies on disk, WAL included.
    public var sizeOnDisk: Int {
        let path = pool.path
        return [path, path + "-wal", path + "-shm"].reduce(0) { total, file in
            total + ((try? FileManager.default.attributesOfItem(atPath: file)[.size] as? Int) ?? 0)
        }
    }

    /// SQLite's query plan for `sql`, to check that lookups use an index.
    func queryPlan(sql: String) async throws -> String {
        try await pool.read { db in
            try Row.fetchAll(db, sql: "EXPLAIN QUERY PLAN " + sql).map { $0["detail"] as String? ?? "" }.joined(separator: "; ")
        }
    }

    /// Decodes a row of `columns`, by position: looking columns up by name hashed every name per row.
    private static func registration(_ row: Row) -> Registration {
        let p256dh: String? = row[7]
        let auth: String? = row[8]
        let lastPush: Double? = row[17]
        let environment: String? = row[9]
        return Registration(
            node: row[0],
            secret: row[1],
            app: row[2],
            service: PushService(rawValue: row[3]) ?? .apns,
            dialect: RegistrationDialect(rawValue: row[4]) ?? .http,
            token: row[5],
            voipToken: row[6],
            webPushKeys: p256dh.flatMap { key in auth.map { WebPushKeys(p256dh: key, auth: $0) } },
            environment: environment.flatMap(APNsEnvironment.init),
            accountDomain: row[10],
            accountKey: row[11],
            pushAccount: row[12],
            channel: row[13],
            deviceKey: row[14],
            createdAt: Date(timeIntervalSince1970: row[15]),
            updatedAt: Date(timeIntervalSince1970: row[16]),
            lastPushAt: lastPush.map(Date.init(timeIntervalSince1970:)),
            lastFailure: row[18]
        )
    }
}
