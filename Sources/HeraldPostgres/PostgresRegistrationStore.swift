import Foundation
import HeraldCore
import Logging
import PostgresNIO
import Synchronization

/// Registrations in PostgreSQL, for several Herald instances sharing one set of registrations and
/// one queue of pending pushes: any instance can answer any publish.
///
/// The client (`PostgresClient`, a bounded pool) must run as a service for the store to work:
/// `HeraldApplication` adds it to the service group before everything that reads the store. Every
/// method is one statement, or one short transaction where limits are checked, so it is one round
/// trip (or a few) whichever instance calls it.
///
/// Concurrency between instances:
/// - registration limits: `insert` locks its domain's count row and the total row (in that order,
///   as the counting triggers do), so concurrent registrations through any instances cannot overshoot;
/// - dead tokens: `delete(node:ifToken:)` is one compare-and-delete statement;
/// - pending pushes: claimed with `FOR UPDATE SKIP LOCKED`, so each row goes to one claimer.
public final class PostgresRegistrationStore: RegistrationStore {
    private let client: PostgresClient
    private let logger: Logger
    /// The first call migrates the schema; every call waits for that (a failed one is tried again).
    private let migration = Mutex<Task<Void, any Error>?>(nil)
    /// Lookups by node, the one query of every publish, folded into `node = ANY(...)` batches.
    private let nodeLookups: LookupBatcher<String, Registration>
    /// Registrations for delivery, on while `keepCacheCoherent()` hears every change.
    private let cache: RegistrationCache

    /// The channel the registration table's trigger names changed nodes on.
    static let changeChannel = "herald_registration"

    /// `client` must be running (`PostgresClient.run()`, a `Service`) for any method to return; the
    /// cache of `cacheCapacity` registrations is used only while `keepCacheCoherent()` runs.
    public init(client: PostgresClient, logger: Logger, cacheCapacity: Int = PostgresSettings().cacheSize) {
        self.client = client
        self.logger = logger
        cache = RegistrationCache(capacity: cacheCapacity)
        nodeLookups = LookupBatcher { [client, logger] nodes in
            var found: [String: Registration] = [:]
            let rows = try await client.query(
                "SELECT \(unescaped: Self.columns) FROM registration WHERE node = ANY(\(nodes))", logger: logger
            )
            for try await row in rows {
                let registration = try Self.registration(row.makeRandomAccess())
                found[registration.node] = registration
            }
            return found
        }
    }

    /// Brings the schema up to date: the named migrations not yet applied, in order, in one
    /// transaction, under a lock so that instances starting together run each one once. Every method
    /// calls it first; it does the work once.
    public func migrate() async throws {
        let task = migration.withLock { migration in
            if let migration { return migration }
            let task = Task { try await self.applyMigrations() }
            migration = task
            return task
        }
        do {
            try await task.value
        } catch {
            migration.withLock { if $0 == task { $0 = nil } }
            throw error
        }
    }

    private func applyMigrations() async throws {
        try await mapped(migrating: true) {
            try await client.withTransaction(logger: logger) { connection in
                try await connection.query("SELECT pg_advisory_xact_lock(\(Self.migrationLock))", logger: logger)
                try await connection.query(
                    "CREATE TABLE IF NOT EXISTS herald_migration (name TEXT PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())",
                    logger: logger
                )
                let applied = try await connection.query("SELECT name FROM herald_migration", logger: logger)
                var names: Set<String> = []
                for try await name in applied.decode(String.self) { names.insert(name) }
                for migration in PostgresMigrations.all where !names.contains(migration.name) {
                    for statement in migration.statements {
                        try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger)
                    }
                    try await connection.query("INSERT INTO herald_migration (name) VALUES (\(migration.name))", logger: logger)
                    logger.info("store migration applied", metadata: [LogKey.storeMigration: "\(migration.name)"])
                }
            }
        }
    }

    /// An arbitrary constant, Herald's own: the advisory lock held while migrating.
    private static let migrationLock: Int64 = 0x4845_5241_4C44  // "HERALD"

    /// The columns every SELECT reads, in the order `registration(_:)` decodes them.
    private static let columns = """
        node, secret, app, service, dialect, token, voip_token, webpush_p256dh, webpush_auth, environment,
        account_domain, account_key, push_account, channel, device_key, created_at, updated_at, last_push_at, last_failure
        """

    public func registration(node: String) async throws -> Registration? {
        try await mapped { try await nodeLookups.load(node) }
    }

    public func registrationForDelivery(node: String) async throws -> Registration? {
        let (cached, ticket) = cache.lookup(node)
        if let cached { return cached }
        let found = try await registration(node: node)
        if let found, let ticket { cache.fill(found, ticket: ticket) }
        return found
    }

    /// A cache hit, without waiting; anything else is a query, for `registrationForDelivery(node:)`.
    public func registrationForDeliveryNow(node: String) -> ImmediateLookup {
        cache.lookup(node).registration.map(ImmediateLookup.found) ?? .unknown
    }

    /// An error for a log: the driver's own carry their query's binds, which may hold tokens.
    private static func describe(_ error: any Error) -> String {
        switch error {
        case let error as PSQLError: "\(PostgresStoreError(error))"
        case let error as PostgresStoreError: "\(error)"
        default: "\(type(of: error))"
        }
    }

    /// Whether deliveries read the cache: the listener hears every change to a registration.
    public var cacheIsOn: Bool { cache.isEnabled }

    /// Keeps the cache coherent with every instance's writes until cancelled: LISTENs on one of the
    /// pool's connections and drops each node a notification names. The cache is on only while the
    /// channel is heard; a lost connection turns it off and empties it until the listener is back.
    public func keepCacheCoherent(retryDelay: Duration = .seconds(1)) async {
        while !Task.isCancelled {
            do {
                try await migrate()
                try await client.withConnection { connection in
                    try await connection.listen(on: Self.changeChannel) { notifications in
                        cache.reset(enabled: true)
                        logger.info("registration cache on: every change is heard")
                        for try await notification in notifications { cache.invalidate(notification.payload) }
                    }
                }
            } catch where !Task.isCancelled {
                logger.warning("registration cache off: changes cannot be heard", metadata: [LogKey.reason: "\(Self.describe(error))"])
            } catch {}
            cache.reset(enabled: false)
            try? await Task.sleep(for: retryDelay)
        }
        cache.reset(enabled: false)
    }

    public func registration(deviceKey: String) async throws -> Registration? {
        try await first("SELECT \(unescaped: Self.columns) FROM registration WHERE device_key = \(deviceKey)")
    }

    private func first(_ query: PostgresQuery) async throws -> Registration? {
        try await mapped {
            for try await row in try await client.query(query, logger: logger) {
                return try Self.registration(row.makeRandomAccess())
            }
            return nil
        }
    }

    public func save(_ registration: Registration) async throws {
        defer { cache.invalidate(registration.node) }
        try await mapped { try await client.query(Self.upsert(registration), logger: logger) }
    }

    public func insert(_ registration: Registration, limits: RegistrationLimits) async throws {
        defer { cache.invalidate(registration.node) }
        let domain = registration.accountDomain ?? ""
        try await mapped {
            try await client.withTransaction(logger: logger) { connection in
                // Lock the counts first: a concurrent insert for the same domain (or any, for the total)
                // waits here until this one commits, and then reads the count it left.
                try await connection.query(
                    "INSERT INTO registration_count (account_domain, registrations) VALUES (\(domain), 0) ON CONFLICT DO NOTHING",
                    logger: logger
                )
                let domainCount = try await Self.single(
                    connection.query("SELECT registrations FROM registration_count WHERE account_domain = \(domain) FOR UPDATE", logger: logger),
                    as: Int64.self
                ) ?? 0
                let total = try await Self.single(
                    connection.query("SELECT registrations FROM registration_total WHERE id = 1 FOR UPDATE", logger: logger),
                    as: Int64.self
                ) ?? 0
                let exists = try await Self.single(
                    connection.query("SELECT 1::INT8 FROM registration WHERE node = \(registration.node)", logger: logger), as: Int64.self
                ) != nil
                if !exists {
                    let account = try await Self.single(
                        connection.query("SELECT COUNT(*) FROM registration WHERE account_key = \(registration.accountKey)", logger: logger),
                        as: Int64.self
                    ) ?? 0
                    if let refusal = limits.refusal(account: Int(account), domain: Int(domainCount), total: Int(total)) {
                        throw refusal
                    }
                }
                try await connection.query(Self.upsert(registration), logger: logger)
            }
        }
    }

    private static func single<T: PostgresDecodable & Sendable>(_ rows: PostgresRowSequence, as type: T.Type) async throws -> T? {
        for try await value in rows.decode(T.self) { return value }
        return nil
    }

    private static func upsert(_ registration: Registration) -> PostgresQuery {
        """
        INSERT INTO registration (
            node, secret, app, service, dialect, token, voip_token, webpush_p256dh, webpush_auth,
            environment, account_domain, account_key, push_account, channel, device_key,
            created_at, updated_at, last_push_at, last_failure
        ) VALUES (
            \(registration.node), \(registration.secret), \(registration.app), \(registration.service.rawValue),
            \(registration.dialect.rawValue), \(registration.token), \(registration.voipToken),
            \(registration.webPushKeys?.p256dh), \(registration.webPushKeys?.auth), \(registration.environment?.rawValue),
            \(registration.accountDomain), \(registration.accountKey), \(registration.pushAccount), \(registration.channel),
            \(registration.deviceKey), \(registration.createdAt), \(registration.updatedAt), \(registration.lastPushAt),
            \(registration.lastFailure)
        )
        ON CONFLICT (node) DO UPDATE SET
            secret = excluded.secret, app = excluded.app, service = excluded.service,
            dialect = excluded.dialect, token = excluded.token, voip_token = excluded.voip_token,
            webpush_p256dh = excluded.webpush_p256dh, webpush_auth = excluded.webpush_auth,
            environment = excluded.environment, account_domain = excluded.account_domain,
            account_key = excluded.account_key, push_account = excluded.push_account,
            channel = excluded.channel, device_key = excluded.device_key,
            updated_at = excluded.updated_at, last_push_at = excluded.last_push_at,
            last_failure = excluded.last_failure
        """
    }

    public func delete(node: String) async throws -> Bool {
        defer { cache.invalidate(node) }
        return try await affectsRows("DELETE FROM registration WHERE node = \(node) RETURNING 1::INT8")
    }

    public func delete(node: String, ifToken token: String) async throws -> Bool {
        defer { cache.invalidate(node) }
        return try await affectsRows("DELETE FROM registration WHERE node = \(node) AND token = \(token) RETURNING 1::INT8")
    }

    private func affectsRows(_ query: PostgresQuery) async throws -> Bool {
        try await mapped { try await Self.single(client.query(query, logger: logger), as: Int64.self) != nil }
    }

    public func count(accountKey: String) async throws -> Int {
        try await count("SELECT COUNT(*) FROM registration WHERE account_key = \(accountKey)")
    }

    public func count(accountDomain: String) async throws -> Int {
        try await count("SELECT registrations FROM registration_count WHERE account_domain = \(accountDomain)")
    }

    public func count() async throws -> Int {
        try await count("SELECT registrations FROM registration_total WHERE id = 1")
    }

    private func count(_ query: PostgresQuery) async throws -> Int {
        try await mapped { Int(try await Self.single(client.query(query, logger: logger), as: Int64.self) ?? 0) }
    }

    public func list(after node: String?, limit: Int) async throws -> [Registration] {
        try await mapped {
            var found: [Registration] = []
            let rows = try await client.query(
                "SELECT \(unescaped: Self.columns) FROM registration WHERE node > \(node ?? "") ORDER BY node LIMIT \(limit)",
                logger: logger
            )
            for try await row in rows { found.append(try Self.registration(row.makeRandomAccess())) }
            return found
        }
    }

    public func recordActivity(_ activity: [String: RegistrationActivity]) async throws {
        guard !activity.isEmpty else { return }
        // One statement for the whole batch: arrays of nodes, times and failures, unnested together.
        // Arrays cannot carry NULLs here: a time below zero and an absent failure stand for none.
        let nodes = Array(activity.keys)
        let times = nodes.map { activity[$0]?.lastPushAt?.timeIntervalSince1970 ?? -1 }
        let failures = nodes.map { activity[$0]?.lastFailure ?? "" }
        let failed = nodes.map { activity[$0]?.lastFailure != nil }
        try await mapped {
            try await client.query(
                """
                UPDATE registration SET
                    last_push_at = CASE WHEN batch.pushed < 0 THEN registration.last_push_at ELSE to_timestamp(batch.pushed) END,
                    last_failure = CASE WHEN batch.failed THEN batch.failure END
                FROM unnest(\(nodes)::TEXT[], \(times)::FLOAT8[], \(failures)::TEXT[], \(failed)::BOOL[])
                    AS batch (node, pushed, failure, failed)
                WHERE registration.node = batch.node
                """,
                logger: logger
            )
        }
        // Activity columns do not notify (the trigger leaves them out): the cache is brought up to date here.
        cache.recordActivity(activity)
    }

    // MARK: Pending pushes

    private static let pendingColumns = "node, publish, push_class, attempt, not_before, deadline"

    public func savePending(_ push: PendingPush, owner: String, leaseUntil: Date) async throws {
        let publish = String(decoding: try JSONEncoder().encode(push.publish), as: UTF8.self)
        try await mapped {
            try await client.query(
                """
                INSERT INTO pending_push (node, publish, push_class, attempt, not_before, deadline, claimed_by, claimed_until)
                VALUES (\(push.node), \(publish), \(push.pushClass.rawValue), \(push.attempt), \(push.notBefore), \(push.deadline),
                    \(owner), \(leaseUntil))
                ON CONFLICT (node) DO UPDATE SET publish = excluded.publish, push_class = excluded.push_class,
                    attempt = excluded.attempt, not_before = excluded.not_before, deadline = excluded.deadline,
                    claimed_by = excluded.claimed_by, claimed_until = excluded.claimed_until
                """,
                logger: logger
            )
        }
    }

    public func deletePending(node: String, owner: String) async throws {
        try await mapped {
            try await client.query("DELETE FROM pending_push WHERE node = \(node) AND claimed_by = \(owner)", logger: logger)
        }
    }

    public func claimPendingPushes(owner: String, now: Date, leaseUntil: Date, limit: Int) async throws -> [PendingPush] {
        // SKIP LOCKED: rows another instance is claiming right now are left to it, not waited for.
        try await pendingPushes(
            """
            UPDATE pending_push SET claimed_by = \(owner), claimed_until = \(leaseUntil) WHERE node IN (
                SELECT node FROM pending_push
                WHERE claimed_by IS NULL OR claimed_until IS NULL OR claimed_until < \(now)
                ORDER BY not_before LIMIT \(limit)
                FOR UPDATE SKIP LOCKED
            ) RETURNING \(unescaped: Self.pendingColumns)
            """
        ).sorted { $0.notBefore < $1.notBefore }
    }

    public func renewPendingClaims(owner: String, until: Date) async throws {
        try await mapped {
            try await client.query("UPDATE pending_push SET claimed_until = \(until) WHERE claimed_by = \(owner)", logger: logger)
        }
    }

    public func releasePendingClaims(owner: String) async throws {
        try await mapped {
            try await client.query(
                "UPDATE pending_push SET claimed_by = NULL, claimed_until = NULL WHERE claimed_by = \(owner)", logger: logger
            )
        }
    }

    public func pendingPushes(limit: Int) async throws -> [PendingPush] {
        try await pendingPushes("SELECT \(unescaped: Self.pendingColumns) FROM pending_push ORDER BY not_before LIMIT \(limit)")
    }

    /// Rows of `pendingColumns`. A row this version cannot read is skipped rather than blocking the
    /// rest of the queue.
    private func pendingPushes(_ query: PostgresQuery) async throws -> [PendingPush] {
        try await mapped {
            let decoder = JSONDecoder()
            var found: [PendingPush] = []
            let rows = try await client.query(query, logger: logger)
            for try await (node, json, pushClass, attempt, notBefore, deadline) in rows.decode((String, String, String, Int, Date, Date).self) {
                guard let publish = try? decoder.decode(Publish.self, from: Data(json.utf8)), let pushClass = PushClass(rawValue: pushClass)
                else { continue }
                found.append(
                    PendingPush(node: node, publish: publish, pushClass: pushClass, attempt: attempt, notBefore: notBefore, deadline: deadline)
                )
            }
            return found
        }
    }

    /// Inserts many registrations in large statements, for bulk loading (benchmarks, moving stores).
    public func saveAll(_ registrations: [Registration]) async throws {
        defer { for registration in registrations { cache.invalidate(registration.node) } }
        for start in stride(from: 0, to: registrations.count, by: 1_000) {
            let slice = registrations[start..<min(start + 1_000, registrations.count)]
            try await mapped {
                try await client.withTransaction(logger: logger) { connection in
                    for registration in slice { try await connection.query(Self.upsert(registration), logger: logger) }
                }
            }
        }
    }

    /// Decodes a row of `columns`, by position.
    private static func registration(_ row: PostgresRandomAccessRow) throws -> Registration {
        let p256dh = try row[7].decode(String?.self)
        let auth = try row[8].decode(String?.self)
        return Registration(
            node: try row[0].decode(String.self),
            secret: try row[1].decode(String?.self),
            app: try row[2].decode(String.self),
            service: PushVendor(rawValue: try row[3].decode(String.self)) ?? .apns,
            dialect: RegistrationDialect(rawValue: try row[4].decode(String.self)) ?? .http,
            token: try row[5].decode(String.self),
            voipToken: try row[6].decode(String?.self),
            webPushKeys: p256dh.flatMap { key in auth.map { WebPushKeys(p256dh: key, auth: $0) } },
            environment: try row[9].decode(String?.self).flatMap(APNsEnvironment.init),
            accountDomain: try row[10].decode(String?.self),
            accountKey: try row[11].decode(String?.self),
            pushAccount: try row[12].decode(String?.self),
            channel: try row[13].decode(String?.self),
            deviceKey: try row[14].decode(String.self),
            createdAt: try row[15].decode(Date.self),
            updatedAt: try row[16].decode(Date.self),
            lastPushAt: try row[17].decode(Date?.self),
            lastFailure: try row[18].decode(String?.self)
        )
    }

    /// Runs `body`, turning PostgreSQL's errors into `PostgresStoreError`: the driver's own describe
    /// the query and its binds, which hold tokens and secrets and must not reach a log.
    @discardableResult
    private func mapped<T>(migrating: Bool = false, _ body: () async throws -> T) async throws -> T {
        if !migrating { try await migrate() }
        do {
            return try await body()
        } catch let error as RegistrationError {
            throw error
        } catch let error as PSQLError {
            throw PostgresStoreError(error)
        } catch let error as PostgresTransactionError {
            if let closure = error.closureError as? RegistrationError { throw closure }
            if let closure = error.closureError as? PSQLError { throw PostgresStoreError(closure) }
            throw PostgresStoreError(code: "transaction", message: "a transaction could not finish")
        }
    }
}
