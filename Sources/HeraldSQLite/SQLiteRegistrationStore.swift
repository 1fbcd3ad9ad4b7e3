import Foundation
import GRDB
import HeraldCore

/// Registrations in an embedded SQLite database: Herald's default store.
///
/// Built on GRDB rather than sqlite-nio: GRDB brings named, ordered migrations and a WAL-mode
/// `DatabasePool` whose readers never wait for the writer, and publishes are nearly all reads. It links
/// the system SQLite (libsqlite3-dev at build time).
///
/// Durability: writes commit with `synchronous = FULL` in WAL mode, set on every connection, so a
/// registration that was answered survives `kill -9` and power loss alike. NORMAL would be faster but
/// loses the last commits on power loss: the client would hold a node Herald no longer knows, and its
/// server would drop push at the first publish. Concurrent writes share commits instead (`SQLiteWriter`).
///
/// Files: the database and its `-wal`/`-shm` files are readable by Herald's user only (0600; SQLite gives
/// the latter the database file's mode), and a folder Herald creates for them is 0700. They hold tokens
/// and publish secrets.
public final class SQLiteRegistrationStore: RegistrationStore {
    private let pool: DatabasePool
    private let writer: SQLiteWriter
    /// Registrations for delivery, on while `keepCacheCoherent()` runs: this store's writes invalidate
    /// their node, and a write by another process (`herald registrations delete`) empties it.
    private let cache: RegistrationCache
    /// Point reads by node, the lookup of every publish, past GRDB.
    private let nodeReader: SQLiteNodeReader

    /// Opens (creating if needed) the database at `path` and brings its schema up to date. The cache of
    /// `cacheCapacity` registrations is used only while `keepCacheCoherent()` runs.
    public init(path: String, cacheCapacity: Int = 20_000) throws {
        cache = RegistrationCache(capacity: cacheCapacity)
        nodeReader = SQLiteNodeReader(path: path)
        try Self.createPrivately(path: path)
        var configuration = Configuration()
        configuration.busyMode = .timeout(5)
        configuration.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = FULL")
            // 64 MiB of page cache for the writer (SQLite's default is 2 MiB): nodes, device keys and
            // account keys are random, so each registration touches three random pages, which a small
            // cache reads back from the OS again and again once the store holds millions. Readers
            // take point lookups only and keep 8 MiB each.
            try db.execute(sql: db.configuration.readonly ? "PRAGMA cache_size = -8192" : "PRAGMA cache_size = -65536")
        }
        pool = try DatabasePool(path: path, configuration: configuration)
        writer = SQLiteWriter(pool: pool)
        try Self.migrator.migrate(pool)
    }

    /// Creates the folder (0700) and an empty database file (0600) before SQLite does, since SQLite
    /// would create them world-readable under the usual umask.
    private static func createPrivately(path: String) throws {
        let directory = (path as NSString).deletingLastPathComponent
        if !directory.isEmpty, !FileManager.default.fileExists(atPath: directory) {
            try FileManager.default.createDirectory(
                atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700]
            )
        }
        let descriptor = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else {
            throw DatabaseError(resultCode: .SQLITE_CANTOPEN, message: "cannot create \(path): errno \(errno)")
        }
        close(descriptor)
    }

    /// `synchronous` as SQLite reports it on a connection of the pool (2 is FULL).
    var synchronousSetting: Int {
        get throws { try pool.unsafeRead { db in try Int.fetchOne(db, sql: "PRAGMA synchronous") ?? -1 } }
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
        // Counts per registering server and in all, kept by triggers so that checking a limit is a point
        // read whatever the table's size (COUNT(*) over an index walks it), for every writer of the file.
        migrator.registerMigration("2026-12-02 registration counts") { db in
            try db.execute(
                sql: """
                    CREATE TABLE registration_count (
                        account_domain TEXT PRIMARY KEY NOT NULL,
                        registrations INTEGER NOT NULL
                    ) WITHOUT ROWID;
                    INSERT INTO registration_count (account_domain, registrations)
                        SELECT coalesce(account_domain, ''), COUNT(*) FROM registration GROUP BY 1;
                    CREATE TABLE registration_total (
                        id INTEGER PRIMARY KEY CHECK (id = 1),
                        registrations INTEGER NOT NULL
                    );
                    INSERT INTO registration_total (id, registrations) SELECT 1, COUNT(*) FROM registration;
                    \(Self.countingTriggers)
                    """
            )
        }
        // Rows in the order they arrive: keyed by node (random until now), each insert rewrote a random
        // page of 400-byte rows, and the table's pages were read back at every commit once it held more
        // than the cache (herald-bench registrations: throughput fell by a quarter from the first to the
        // tenth 100,000). A rowid table appends; node and device_key become small unique indexes.
        migrator.registerMigration("2026-12-02 registrations by rowid") { db in
            try db.execute(
                sql: """
                    CREATE TABLE registration_by_rowid (
                        id INTEGER PRIMARY KEY,
                        node TEXT NOT NULL UNIQUE,
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
                    );
                    INSERT INTO registration_by_rowid (\(Self.rowidMigrationColumns))
                        SELECT \(Self.rowidMigrationColumns) FROM registration ORDER BY created_at, node;
                    DROP TABLE registration;
                    ALTER TABLE registration_by_rowid RENAME TO registration;
                    CREATE INDEX registration_account_key ON registration (account_key);
                    \(Self.countingTriggers)
                    """
            )
        }
        // Pushes waiting for a retry, kept across restarts. A row is one node's next push; `claimed_by`
        // and `claimed_until` are the instance holding it and its lease (`RegistrationStore`).
        migrator.registerMigration("2026-12-02 pending pushes") { db in
            try db.execute(
                sql: """
                    CREATE TABLE pending_push (
                        node TEXT PRIMARY KEY NOT NULL,
                        publish TEXT NOT NULL,
                        push_class TEXT NOT NULL CHECK (push_class IN ('background', 'alert', 'voip')),
                        attempt INTEGER NOT NULL,
                        not_before DOUBLE NOT NULL,
                        deadline DOUBLE NOT NULL,
                        claimed_by TEXT,
                        claimed_until DOUBLE
                    ) WITHOUT ROWID;
                    CREATE INDEX pending_push_due ON pending_push (not_before);
                    CREATE TRIGGER registration_pending_removed AFTER DELETE ON registration BEGIN
                        DELETE FROM pending_push WHERE node = OLD.node;
                    END;
                    """
            )
        }
        // A push's outcome in a table of its own, keyed by the registration's rowid: updating it in the
        // registration rewrote a 300-byte row on a random page of the whole table, so with 1M
        // registrations each flush of activity dirtied a page per node pushed (herald-bench path, 1M:
        // 100 MB of WAL per 5 s flush). Rows of about 20 bytes put 1M nodes' activity in 4,000 pages.
        migrator.registerMigration("2026-12-05 activity apart") { db in
            try db.execute(
                sql: """
                    CREATE TABLE registration_activity (
                        registration INTEGER PRIMARY KEY,
                        last_push_at DOUBLE,
                        last_failure TEXT
                    );
                    INSERT INTO registration_activity (registration, last_push_at, last_failure)
                        SELECT id, last_push_at, last_failure FROM registration
                        WHERE last_push_at IS NOT NULL OR last_failure IS NOT NULL;
                    ALTER TABLE registration DROP COLUMN last_push_at;
                    ALTER TABLE registration DROP COLUMN last_failure;
                    CREATE TRIGGER registration_activity_removed AFTER DELETE ON registration BEGIN
                        DELETE FROM registration_activity WHERE registration = OLD.id;
                    END;
                    """
            )
        }
        return migrator
    }

    /// Keep `registration_count` and `registration_total` in step with the table, for every writer of
    /// the file. A table dropped and created again loses its triggers, so migrations share this text:
    /// shipped as it is, it must not change (a new migration drops and recreates the triggers instead).
    private static let countingTriggers = """
        CREATE TRIGGER registration_counted AFTER INSERT ON registration BEGIN
            INSERT INTO registration_count (account_domain, registrations)
                VALUES (coalesce(NEW.account_domain, ''), 1)
                ON CONFLICT (account_domain) DO UPDATE SET registrations = registrations + 1;
            UPDATE registration_total SET registrations = registrations + 1;
        END;
        CREATE TRIGGER registration_uncounted AFTER DELETE ON registration BEGIN
            UPDATE registration_count SET registrations = registrations - 1
                WHERE account_domain = coalesce(OLD.account_domain, '');
            UPDATE registration_total SET registrations = registrations - 1;
        END;
        CREATE TRIGGER registration_recounted AFTER UPDATE OF account_domain ON registration
            WHEN coalesce(OLD.account_domain, '') <> coalesce(NEW.account_domain, '') BEGIN
            UPDATE registration_count SET registrations = registrations - 1
                WHERE account_domain = coalesce(OLD.account_domain, '');
            INSERT INTO registration_count (account_domain, registrations)
                VALUES (coalesce(NEW.account_domain, ''), 1)
                ON CONFLICT (account_domain) DO UPDATE SET registrations = registrations + 1;
        END;
        """

    public func registration(node: String) async throws -> Registration? {
        // The publish hot path. An indexed point read in WAL mode never waits for the writer and takes
        // microseconds, so it runs on the calling thread: hopping to GRDB's reader queue and back cost
        // ten times the read itself (herald-bench store). One SELECT is atomic by itself, so it runs
        // without a transaction, from a statement prepared once (`SQLiteNodeReader`).
        try nodeReader.registration(node: node)
    }

    public func registrationForDelivery(node: String) async throws -> Registration? {
        try cachedRegistration(node: node)
    }

    /// The publish fast path's lookup: a cache hit, or the point read on the calling thread (the same
    /// read `registration(node:)` makes), which fills the cache.
    public func registrationForDeliveryNow(node: String) -> ImmediateLookup {
        do {
            return try cachedRegistration(node: node).map(ImmediateLookup.found) ?? .absent
        } catch {
            return .unknown
        }
    }

    private func cachedRegistration(node: String) throws -> Registration? {
        let (cached, ticket) = cache.lookup(node)
        if let cached { return cached }
        let found = try nodeReader.registration(node: node)
        if let found, let ticket { cache.fill(found, ticket: ticket) }
        return found
    }

    /// Registrations in the delivery cache right now.
    public var cachedRegistrations: Int { cache.count }
    public var cacheIsOn: Bool { cache.isEnabled }

    /// Keeps the delivery cache coherent with writes this store does not make: another process on the
    /// same file (the `herald registrations` commands) commits, SQLite's `data_version` on the writer's
    /// connection changes (it counts other connections' commits only), and the cache is emptied. Checked
    /// every `interval`, so such a change reaches delivery within it; this store's own writes invalidate
    /// their node at once. The cache is on while this runs, until the task is cancelled.
    public func keepCacheCoherent(interval: Duration = .milliseconds(500)) async {
        var seen: Int?
        while !Task.isCancelled {
            do {
                let version = try await pool.writeWithoutTransaction { db in try Int.fetchOne(db, sql: "PRAGMA data_version") ?? 0 }
                if version != seen {
                    // The first reading turns the cache on; a later change empties it.
                    cache.reset(enabled: true)
                    seen = version
                }
            } catch {
                cache.reset(enabled: false)
                seen = nil
            }
            try? await Task.sleep(for: interval)
        }
        cache.reset(enabled: false)
    }

    /// A synchronous context, so that GRDB's blocking read is chosen over its async overload.
    private func readOnCallingThread<T>(_ body: (Database) throws -> T) throws -> T {
        try pool.unsafeRead(body)
    }

    /// The columns of the registration table as the rowid migration copied them: shipped, never changed.
    private static let rowidMigrationColumns = """
        node, secret, app, service, dialect, token, voip_token, webpush_p256dh, webpush_auth, environment,
        account_domain, account_key, push_account, channel, device_key, created_at, updated_at, last_push_at, last_failure
        """

    /// What every read of registrations selects, with its activity, in the order `registration(_:)`
    /// decodes it; a query appends its WHERE clause.
    static let selection = """
        SELECT node, secret, app, service, dialect, token, voip_token, webpush_p256dh, webpush_auth, environment,
            account_domain, account_key, push_account, channel, device_key, created_at, updated_at,
            registration_activity.last_push_at, registration_activity.last_failure
        FROM registration LEFT JOIN registration_activity ON registration_activity.registration = registration.id
        """

    public func registration(deviceKey: String) async throws -> Registration? {
        // Every registration asks this first; a point read on the calling thread, as for nodes.
        try readOnCallingThread { db in
            let statement = try db.cachedStatement(sql: Self.selection + " WHERE device_key = ?")
            return try Row.fetchOne(statement, arguments: [deviceKey]).map(Self.registration)
        }
    }

    public func save(_ registration: Registration) async throws {
        defer { cache.invalidate(registration.node) }
        try await writer.write { db in try Self.upsert(registration, db) }
    }

    public func insert(_ registration: Registration, limits: RegistrationLimits) async throws {
        defer { cache.invalidate(registration.node) }
        try await writer.write { db in
            // Cached statements: compiling each one again (GRDB authorizes every compilation) cost more
            // than running it (herald-bench registrations, perf).
            let exists = try Bool.fetchOne(
                db.cachedStatement(sql: "SELECT 1 FROM registration WHERE node = ?"), arguments: [registration.node]
            ) ?? false
            if !exists, let refusal = limits.refusal(
                account: try Int.fetchOne(
                    db.cachedStatement(sql: "SELECT COUNT(*) FROM registration WHERE account_key = ?"), arguments: [registration.accountKey]
                ) ?? 0,
                domain: try Self.domainCount(registration.accountDomain ?? "", db),
                total: try Self.totalCount(db)
            ) {
                throw refusal
            }
            try Self.upsert(registration, db)
        }
    }

    private static func upsert(_ registration: Registration, _ db: Database) throws {
        let statement = try db.cachedStatement(
            sql: """
                INSERT INTO registration (
                    node, secret, app, service, dialect, token, voip_token, webpush_p256dh, webpush_auth,
                    environment, account_domain, account_key, push_account, channel, device_key,
                    created_at, updated_at
                ) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT (node) DO UPDATE SET
                    secret = excluded.secret, app = excluded.app, service = excluded.service,
                    dialect = excluded.dialect, token = excluded.token, voip_token = excluded.voip_token,
                    webpush_p256dh = excluded.webpush_p256dh, webpush_auth = excluded.webpush_auth,
                    environment = excluded.environment, account_domain = excluded.account_domain,
                    account_key = excluded.account_key, push_account = excluded.push_account,
                    channel = excluded.channel, device_key = excluded.device_key,
                    updated_at = excluded.updated_at
                """
        )
        try statement.execute(arguments: [
            registration.node, registration.secret, registration.app, registration.service.rawValue,
            registration.dialect.rawValue, registration.token, registration.voipToken,
            registration.webPushKeys?.p256dh, registration.webPushKeys?.auth,
            registration.environment?.rawValue, registration.accountDomain, registration.accountKey,
            registration.pushAccount, registration.channel, registration.deviceKey,
            registration.createdAt.timeIntervalSince1970, registration.updatedAt.timeIntervalSince1970,
        ])
        // The row's activity becomes the registration's, as one row used to hold both.
        if registration.lastPushAt == nil, registration.lastFailure == nil {
            try db.cachedStatement(
                sql: "DELETE FROM registration_activity WHERE registration = (SELECT id FROM registration WHERE node = ?)"
            ).execute(arguments: [registration.node])
        } else {
            try db.cachedStatement(
                sql: """
                    INSERT INTO registration_activity (registration, last_push_at, last_failure)
                        SELECT id, ?, ? FROM registration WHERE node = ?
                    ON CONFLICT (registration) DO UPDATE SET
                        last_push_at = excluded.last_push_at, last_failure = excluded.last_failure
                    """
            ).execute(arguments: [registration.lastPushAt?.timeIntervalSince1970, registration.lastFailure, registration.node])
        }
    }

    private static func domainCount(_ domain: String, _ db: Database) throws -> Int {
        try Int.fetchOne(db.cachedStatement(sql: "SELECT registrations FROM registration_count WHERE account_domain = ?"), arguments: [domain]) ?? 0
    }

    private static func totalCount(_ db: Database) throws -> Int {
        try Int.fetchOne(db.cachedStatement(sql: "SELECT registrations FROM registration_total WHERE id = 1")) ?? 0
    }

    public func delete(node: String) async throws -> Bool {
        defer { cache.invalidate(node) }
        return try await writer.write { db in
            try db.cachedStatement(sql: "DELETE FROM registration WHERE node = ?").execute(arguments: [node])
            return db.changesCount > 0
        }
    }

    public func count(accountKey: String) async throws -> Int {
        try await pool.read { db in
            try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM registration WHERE account_key = ?", arguments: [accountKey]) ?? 0
        }
    }

    public func count(accountDomain: String) async throws -> Int {
        try await pool.read { db in try Self.domainCount(accountDomain, db) }
    }

    public func count() async throws -> Int {
        try await pool.read { db in try Self.totalCount(db) }
    }

    public func list(after node: String?, limit: Int) async throws -> [Registration] {
        try await pool.read { db in
            try Row.fetchAll(
                db,
                sql: Self.selection + " WHERE node > ? ORDER BY node LIMIT ?",
                arguments: [node ?? "", limit]
            ).map(Self.registration)
        }
    }

    public func delete(node: String, ifToken token: String) async throws -> Bool {
        defer { cache.invalidate(node) }
        return try await writer.write { db in
            try db.cachedStatement(sql: "DELETE FROM registration WHERE node = ? AND token = ?").execute(arguments: [node, token])
            return db.changesCount > 0
        }
    }

    public func savePending(_ push: PendingPush, owner: String, leaseUntil: Date) async throws {
        let publish = String(decoding: try JSONEncoder().encode(push.publish), as: UTF8.self)
        try await writer.write { db in
            try db.cachedStatement(
                sql: """
                    INSERT INTO pending_push (node, publish, push_class, attempt, not_before, deadline, claimed_by, claimed_until)
                        VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                    ON CONFLICT (node) DO UPDATE SET publish = excluded.publish, push_class = excluded.push_class,
                        attempt = excluded.attempt, not_before = excluded.not_before, deadline = excluded.deadline,
                        claimed_by = excluded.claimed_by, claimed_until = excluded.claimed_until
                    """
            ).execute(arguments: [
                push.node, publish, push.pushClass.rawValue, push.attempt,
                push.notBefore.timeIntervalSince1970, push.deadline.timeIntervalSince1970,
                owner, leaseUntil.timeIntervalSince1970,
            ])
        }
    }

    public func deletePending(node: String, owner: String) async throws {
        try await writer.write { db in
            try db.cachedStatement(sql: "DELETE FROM pending_push WHERE node = ? AND claimed_by IS ?").execute(arguments: [node, owner])
        }
    }

    public func claimPendingPushes(owner: String, now: Date, leaseUntil: Date, limit: Int) async throws -> [PendingPush] {
        let claimed = try await writer.write { db in
            try Self.pendingPushes(Row.fetchAll(
                db.cachedStatement(
                    sql: """
                        UPDATE pending_push SET claimed_by = ?, claimed_until = ? WHERE node IN (
                            SELECT node FROM pending_push
                            WHERE claimed_by IS NULL OR claimed_until IS NULL OR claimed_until < ?
                            ORDER BY not_before LIMIT ?
                        ) RETURNING \(Self.pendingColumns)
                        """
                ),
                arguments: [owner, leaseUntil.timeIntervalSince1970, now.timeIntervalSince1970, limit]
            ))
        }
        return claimed.sorted { $0.notBefore < $1.notBefore }
    }

    public func renewPendingClaims(owner: String, until: Date) async throws {
        try await writer.write { db in
            try db.cachedStatement(sql: "UPDATE pending_push SET claimed_until = ? WHERE claimed_by = ?")
                .execute(arguments: [until.timeIntervalSince1970, owner])
        }
    }

    public func releasePendingClaims(owner: String) async throws {
        try await writer.write { db in
            try db.cachedStatement(sql: "UPDATE pending_push SET claimed_by = NULL, claimed_until = NULL WHERE claimed_by = ?")
                .execute(arguments: [owner])
        }
    }

    public func recordActivity(_ activity: [String: RegistrationActivity]) async throws {
        // In node order: nodes begin with their time of registration, as rows do, so neighbouring
        // updates share pages of the index and the table instead of each finding its own.
        let updates = activity.map { ($0.key, $0.value) }.sorted { $0.0 < $1.0 }
        let pool = pool
        // Past the group-commit writer, on the bookkeeping thread: in transactions of
        // `activityTransactionRows`, so that a registration or a queued push waits for one at most.
        try await BookkeepingThread.run {
            for start in stride(from: 0, to: updates.count, by: Self.activityTransactionRows) {
                let rows = updates[start..<min(start + Self.activityTransactionRows, updates.count)]
                try pool.writeWithoutTransaction { db in
                    try db.inTransaction(.immediate) {
                        // A node no longer registered selects no row, and so writes none.
                        let statement = try db.cachedStatement(
                            sql: """
                                INSERT INTO registration_activity (registration, last_push_at, last_failure)
                                    SELECT id, ?2, ?3 FROM registration WHERE node = ?1
                                ON CONFLICT (registration) DO UPDATE SET
                                    last_push_at = coalesce(excluded.last_push_at, last_push_at), last_failure = excluded.last_failure
                                """
                        )
                        for (node, update) in rows {
                            try statement.execute(arguments: [node, update.lastPushAt?.timeIntervalSince1970, update.lastFailure])
                        }
                        return .commit
                    }
                }
            }
        }
        cache.recordActivity(activity)
    }

    /// Activity rows per transaction: a few milliseconds of the writer's connection each. At low priority
    /// on a saturated machine a transaction takes about ten times as long, which a registration waits out.
    static let activityTransactionRows = 1_024

    public func pendingPushes(limit: Int) async throws -> [PendingPush] {
        try await pool.read { db in
            try Self.pendingPushes(
                Row.fetchAll(db, sql: "SELECT \(Self.pendingColumns) FROM pending_push ORDER BY not_before LIMIT ?", arguments: [limit])
            )
        }
    }

    private static let pendingColumns = "node, publish, push_class, attempt, not_before, deadline"

    /// Decodes rows of `pendingColumns`. A row this version cannot read is skipped rather than
    /// blocking the rest of the queue.
    private static func pendingPushes(_ rows: [Row]) -> [PendingPush] {
        let decoder = JSONDecoder()
        return rows.compactMap { row in
            let json: String = row[1]
            guard let publish = try? decoder.decode(Publish.self, from: Data(json.utf8)),
                let pushClass = PushClass(rawValue: row[2])
            else { return nil }
            return PendingPush(
                node: row[0], publish: publish, pushClass: pushClass, attempt: row[3],
                notBefore: Date(timeIntervalSince1970: row[4]), deadline: Date(timeIntervalSince1970: row[5])
            )
        }
    }

    /// Inserts many registrations in large transactions, for bulk loading (benchmarks, imports).
    public func saveAll(_ registrations: [Registration]) async throws {
        defer { for registration in registrations { cache.invalidate(registration.node) } }
        for chunk in stride(from: 0, to: registrations.count, by: 10_000) {
            let slice = registrations[chunk..<min(chunk + 10_000, registrations.count)]
            try await pool.write { db in
                let statement = try db.makeStatement(
                    sql: """
                        INSERT INTO registration (
                            node, secret, app, service, dialect, token, account_domain, account_key, device_key,
                            created_at, updated_at
                        ) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                        ON CONFLICT (node) DO UPDATE SET
                            secret = excluded.secret, token = excluded.token, account_domain = excluded.account_domain,
                            account_key = excluded.account_key, device_key = excluded.device_key,
                            updated_at = excluded.updated_at
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

    /// Nodes in the order their rows are stored (by rowid), to check that rows are appended.
    func nodesInRowidOrder() async throws -> [String] {
        try await pool.read { db in try String.fetchAll(db, sql: "SELECT node FROM registration ORDER BY id") }
    }

    /// Rows of the activity table, to check that none outlives its registration.
    func activityRowCount() async throws -> Int {
        try await pool.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM registration_activity") ?? 0 }
    }

    /// Decodes a row of `selection`, by position: looking columns up by name hashed every name per row.
    private static func registration(_ row: Row) -> Registration {
        let p256dh: String? = row[7]
        let auth: String? = row[8]
        let lastPush: Double? = row[17]
        let environment: String? = row[9]
        return Registration(
            node: row[0],
            secret: row[1],
            app: row[2],
            service: PushVendor(rawValue: row[3]) ?? .apns,
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
