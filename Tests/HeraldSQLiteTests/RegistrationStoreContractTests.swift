import Foundation
import GRDB
import HeraldCore
import HeraldHarness
import HeraldPostgres
import HeraldTesting
import Logging
import PostgresNIO
import Testing

@testable import HeraldSQLite

func sample(_ node: String, account: String = "acct-1", device: String? = nil) -> Registration {
    Registration(
        node: node,
        secret: "secret-\(node)",
        app: "chat",
        service: .apns,
        dialect: .tigase,
        token: "token-\(node)",
        voipToken: "voip-\(node)",
        webPushKeys: WebPushKeys(p256dh: "key", auth: "auth"),
        environment: .sandbox,
        accountDomain: "example.org",
        accountKey: account,
        pushAccount: "romeo@example.org",
        channel: "chan",
        deviceKey: device ?? "device-\(node)",
        createdAt: Date(timeIntervalSince1970: 1_790_000_000),
        updatedAt: Date(timeIntervalSince1970: 1_790_000_100),
        lastPushAt: Date(timeIntervalSince1970: 1_790_000_200),
        lastFailure: "BadDeviceToken"
    )
}

enum StoreKind: String, CaseIterable, CustomTestStringConvertible {
    case memory, sqlite, postgres
    var testDescription: String { rawValue }

    func make() async throws -> any RegistrationStore {
        switch self {
        case .memory: InMemoryRegistrationStore()
        case .sqlite: try SQLiteRegistrationStore(path: temporaryDatabasePath())
        case .postgres: try await makePostgresStore()
        }
    }
}

/// A PostgreSQL store on a database of its own, on the suite's shared server. Its client runs until
/// the test process ends (a handful of idle connections per test); its background log is silenced,
/// or every client would report each failed reconnect once the server stops at exit.
func makePostgresStore() async throws -> PostgresRegistrationStore {
    let server = try await PostgresServer.shared()
    var settings = try PostgresSettings(url: server.url(database: try await server.makeDatabase()))
    settings.maximumConnections = 8
    var backgroundLogger = Logger(label: "test.postgres")
    backgroundLogger.logLevel = .critical
    let client = PostgresClient(configuration: try settings.clientConfiguration(), backgroundLogger: backgroundLogger)
    Task { await client.run() }
    let store = PostgresRegistrationStore(client: client, logger: Logger(label: "test.postgres"))
    try await store.migrate()
    return store
}

func temporaryDatabasePath() -> String {
    FileManager.default.temporaryDirectory.appendingPathComponent("herald-\(UUID().uuidString)/herald.sqlite").path
}

/// Every store behaves the same; the SQLite one also keeps what it was given across reopening.
@Suite struct RegistrationStoreContractTests {
    @Test(arguments: StoreKind.allCases)
    func savesAndFindsByNodeAndDeviceKeyWithEveryField(kind: StoreKind) async throws {
        let store = try await kind.make()
        let registration = sample("n1")
        try await store.save(registration)
        #expect(try await store.registration(node: "n1") == registration)
        #expect(try await store.registration(deviceKey: "device-n1") == registration)
        #expect(try await store.registration(node: "missing") == nil)
    }

    /// What a store says of a node without waiting is what it holds, or nothing it does not know.
    @Test(arguments: StoreKind.allCases)
    func anImmediateLookupNeverContradictsTheStore(kind: StoreKind) async throws {
        let store = try await kind.make()
        let registration = sample("n1")
        try await store.save(registration)
        for node in ["n1", "missing"] {
            let stored = try await store.registration(node: node)
            switch store.registrationForDeliveryNow(node: node) {
            case .found(let found): #expect(found == stored)
            case .absent: #expect(stored == nil)
            case .unknown: break
            }
        }
    }

    @Test(arguments: StoreKind.allCases)
    func savingTheSameNodeReplacesIt(kind: StoreKind) async throws {
        let store = try await kind.make()
        var registration = sample("n1")
        try await store.save(registration)
        registration.token = "rotated"
        registration.secret = nil
        registration.lastPushAt = nil
        try await store.save(registration)
        #expect(try await store.registration(node: "n1") == registration)
        #expect(try await store.count() == 1)
    }

    @Test(arguments: StoreKind.allCases)
    func deletes(kind: StoreKind) async throws {
        let store = try await kind.make()
        try await store.save(sample("n1"))
        #expect(try await store.delete(node: "n1"))
        #expect(try await !store.delete(node: "n1"))
        #expect(try await store.registration(node: "n1") == nil)
    }

    @Test(arguments: StoreKind.allCases)
    func countsPerAccountAndInAll(kind: StoreKind) async throws {
        let store = try await kind.make()
        try await store.save(sample("a", account: "one"))
        try await store.save(sample("b", account: "one"))
        try await store.save(sample("c", account: "two"))
        #expect(try await store.count(accountKey: "one") == 2)
        #expect(try await store.count(accountKey: "three") == 0)
        #expect(try await store.count() == 3)
    }

    @Test(arguments: StoreKind.allCases)
    func listsInNodeOrderInPages(kind: StoreKind) async throws {
        let store = try await kind.make()
        for node in ["c", "a", "e", "b", "d"] { try await store.save(sample(node)) }
        let first = try await store.list(after: nil, limit: 2).map(\.node)
        let second = try await store.list(after: first.last, limit: 2).map(\.node)
        let third = try await store.list(after: second.last, limit: 2).map(\.node)
        #expect(first == ["a", "b"])
        #expect(second == ["c", "d"])
        #expect(third == ["e"])
    }

    @Test(arguments: StoreKind.allCases)
    func insertRefusesNewNodesPastEachLimit(kind: StoreKind) async throws {
        let store = try await kind.make()
        let limits = RegistrationLimits(perAccount: 2, perDomain: 3, total: 4)
        func make(_ node: String, account: String, domain: String) -> Registration {
            var registration = sample(node, account: account)
            registration.accountDomain = domain
            return registration
        }
        try await store.insert(make("a1", account: "a", domain: "one.example"), limits: limits)
        try await store.insert(make("a2", account: "a", domain: "one.example"), limits: limits)
        await #expect(throws: RegistrationError.tooManyDevices(limit: 2)) {
            try await store.insert(make("a3", account: "a", domain: "one.example"), limits: limits)
        }
        try await store.insert(make("b1", account: "b", domain: "one.example"), limits: limits)
        await #expect(throws: RegistrationError.domainLimitReached(limit: 3)) {
            try await store.insert(make("c1", account: "c", domain: "one.example"), limits: limits)
        }
        try await store.insert(make("d1", account: "d", domain: "two.example"), limits: limits)
        await #expect(throws: RegistrationError.totalLimitReached(limit: 4)) {
            try await store.insert(make("e1", account: "e", domain: "three.example"), limits: limits)
        }
        // Replacing a node already stored is not a new registration.
        try await store.insert(make("d1", account: "d", domain: "two.example"), limits: limits)
        #expect(try await store.count(accountDomain: "one.example") == 3)
        #expect(try await store.count(accountDomain: "two.example") == 1)
        #expect(try await store.count() == 4)
        // Deleting frees a place under every limit.
        #expect(try await store.delete(node: "a1"))
        #expect(try await store.count(accountDomain: "one.example") == 2)
        try await store.insert(make("c1", account: "c", domain: "one.example"), limits: limits)
        #expect(try await store.count() == 4)
    }

    @Test(arguments: StoreKind.allCases)
    func concurrentInsertsCannotOvershootALimit(kind: StoreKind) async throws {
        let store = try await kind.make()
        let limits = RegistrationLimits(perAccount: 1000, perDomain: 25, total: 1000)
        let accepted = await withTaskGroup(of: Bool.self) { group in
            for index in 0..<200 {
                group.addTask {
                    var registration = sample("n\(index)", account: "acct-\(index)")
                    registration.accountDomain = "busy.example"
                    return (try? await store.insert(registration, limits: limits)) != nil
                }
            }
            return await group.reduce(0) { $0 + ($1 ? 1 : 0) }
        }
        #expect(accepted == 25)
        #expect(try await store.count(accountDomain: "busy.example") == 25)
    }

    @Test(arguments: StoreKind.allCases)
    func pendingPushesAreOnePerNodeSoonestFirstAndGoWithTheirRegistration(kind: StoreKind) async throws {
        let store = try await kind.make()
        try await store.save(sample("a"))
        try await store.save(sample("b"))
        func pending(_ node: String, _ body: String, in seconds: Double, attempt: Int = 1) -> PendingPush {
            PendingPush(
                node: node,
                publish: Publish(
                    node: node, publisherDomain: "example.org", secret: "s3cret", summary: .init(messageCount: 2, lastMessageBody: body),
                    encrypted: .init(payload: "x", iv: "y", type: "voip"), highPriority: true
                ),
                pushClass: .voip, attempt: attempt,
                notBefore: Date(timeIntervalSince1970: 1_790_000_000 + seconds), deadline: Date(timeIntervalSince1970: 1_790_000_300)
            )
        }
        let lease = Date(timeIntervalSince1970: 1_790_000_030)
        try await store.savePending(pending("a", "first", in: 20), owner: "one", leaseUntil: lease)
        try await store.savePending(pending("b", "other", in: 10), owner: "one", leaseUntil: lease)
        try await store.savePending(pending("a", "newer", in: 30, attempt: 2), owner: "one", leaseUntil: lease)
        let queued = try await store.pendingPushes(limit: 10)
        #expect(queued == [pending("b", "other", in: 10), pending("a", "newer", in: 30, attempt: 2)])
        #expect(queued.allSatisfy { $0.publish.secret == nil })
        #expect(try await store.pendingPushes(limit: 1).map(\.node) == ["b"])
        try await store.deletePending(node: "b", owner: "two")
        #expect(try await store.pendingPushes(limit: 10).count == 2, "only the holder removes a pending push")
        try await store.deletePending(node: "b", owner: "one")
        #expect(try await store.delete(node: "a"))
        #expect(try await store.pendingPushes(limit: 10).isEmpty, "removing a registration removes its pending push")
    }

    @Test(arguments: StoreKind.allCases)
    func aDeadTokenRemovesItsRegistrationOnlyWhileTheTokenIsUnchanged(kind: StoreKind) async throws {
        let store = try await kind.make()
        try await store.save(sample("a"))
        var renewed = sample("a")
        renewed.token = "token-new"
        try await store.save(renewed)
        #expect(try await !store.delete(node: "a", ifToken: "token-a"), "the device registered a new token meanwhile")
        #expect(try await store.registration(node: "a") == renewed)
        #expect(try await store.delete(node: "a", ifToken: "token-new"))
        #expect(try await store.registration(node: "a") == nil)
        #expect(try await store.count() == 0)
    }

    @Test(arguments: StoreKind.allCases)
    func pendingPushesAreHeldByOneInstanceUntilItsLeaseRunsOutOrItReleasesThem(kind: StoreKind) async throws {
        let store = try await kind.make()
        let start = Date(timeIntervalSince1970: 1_790_000_000)
        func at(_ seconds: Double) -> Date { start.addingTimeInterval(seconds) }
        for node in ["a", "b", "c"] {
            try await store.save(sample(node))
            let push = PendingPush(
                node: node, publish: Publish(node: node, publisherDomain: "example.org"), pushClass: .alert, attempt: 1,
                notBefore: at(["a": 5, "b": 10, "c": 15][node] ?? 0), deadline: at(300)
            )
            try await store.savePending(push, owner: "one", leaseUntil: at(30))
        }
        #expect(try await store.claimPendingPushes(owner: "two", now: at(1), leaseUntil: at(31), limit: 10).isEmpty, "held by one")
        #expect(try await store.claimPendingPushes(owner: "one", now: at(1), leaseUntil: at(31), limit: 10).isEmpty, "already held")
        try await store.renewPendingClaims(owner: "one", until: at(60))
        #expect(try await store.claimPendingPushes(owner: "two", now: at(45), leaseUntil: at(75), limit: 10).isEmpty, "renewed")
        // One died: after its lease, another takes every row, and then holds them.
        let taken = try await store.claimPendingPushes(owner: "two", now: at(61), leaseUntil: at(91), limit: 10)
        #expect(Set(taken.map(\.node)) == ["a", "b", "c"])
        #expect(taken.first?.node == "a")
        #expect(try await store.claimPendingPushes(owner: "three", now: at(62), leaseUntil: at(92), limit: 10).isEmpty)
        // Released at shutdown: the next instance takes them at once.
        try await store.releasePendingClaims(owner: "two")
        #expect(try await store.claimPendingPushes(owner: "three", now: at(63), leaseUntil: at(93), limit: 2).count == 2)
        #expect(try await store.claimPendingPushes(owner: "four", now: at(63), leaseUntil: at(93), limit: 10).map(\.node) == ["c"])
        // A push saved again by another instance is that instance's: the old holder cannot remove it.
        let replaced = PendingPush(node: "a", publish: Publish(node: "a", publisherDomain: "example.org"), pushClass: .alert, attempt: 2, notBefore: at(70), deadline: at(300))
        try await store.savePending(replaced, owner: "five", leaseUntil: at(100))
        try await store.deletePending(node: "a", owner: "three")
        #expect(try await store.pendingPushes(limit: 10).contains(replaced))
    }

    @Test(arguments: StoreKind.allCases)
    func concurrentClaimersTakeEachPendingPushOnce(kind: StoreKind) async throws {
        let store = try await kind.make()
        let start = Date(timeIntervalSince1970: 1_790_000_000)
        let nodes = (0..<200).map { "node-\($0)" }
        for node in nodes {
            try await store.save(sample(node))
            let push = PendingPush(node: node, publish: Publish(node: node, publisherDomain: "example.org"), pushClass: .alert, attempt: 1, notBefore: start, deadline: start.addingTimeInterval(300))
            try await store.savePending(push, owner: "dead", leaseUntil: start)
        }
        let claims = try await withThrowingTaskGroup(of: [String].self) { group in
            for claimer in 0..<8 {
                group.addTask {
                    var mine: [String] = []
                    for _ in 0..<20 {
                        mine += try await store.claimPendingPushes(
                            owner: "claimer-\(claimer)", now: start.addingTimeInterval(1), leaseUntil: start.addingTimeInterval(600), limit: 7
                        ).map(\.node)
                    }
                    return mine
                }
            }
            return try await group.reduce(into: [String]()) { $0 += $1 }
        }
        #expect(claims.count == nodes.count, "each row went to one claimer")
        #expect(Set(claims) == Set(nodes))
    }

    @Test(arguments: StoreKind.allCases)
    func activityKeepsTheLastPushTimeUntilANewerOneAndSkipsUnknownNodes(kind: StoreKind) async throws {
        let store = try await kind.make()
        var registration = sample("a")
        registration.lastPushAt = nil
        registration.lastFailure = nil
        try await store.save(registration)
        let pushed = Date(timeIntervalSince1970: 1_790_000_500)
        try await store.recordActivity(["a": RegistrationActivity(lastPushAt: pushed), "gone": RegistrationActivity(lastPushAt: pushed)])
        try await store.recordActivity(["a": RegistrationActivity(lastFailure: "ServiceUnavailable")])
        let stored = try #require(try await store.registration(node: "a"))
        #expect(stored.lastPushAt == pushed)
        #expect(stored.lastFailure == "ServiceUnavailable")
        #expect(try await store.registration(node: "gone") == nil)
        // A node registered again after a delete starts without activity.
        #expect(try await store.delete(node: "a"))
        try await store.save(registration)
        let again = try #require(try await store.registration(node: "a"))
        #expect(again.lastPushAt == nil && again.lastFailure == nil)
        // Saving a registration writes its activity as given, replacing what was recorded.
        try await store.recordActivity(["a": RegistrationActivity(lastPushAt: pushed)])
        try await store.save(registration)
        #expect(try await store.registration(node: "a")?.lastPushAt == nil)
    }

    @Test func sqliteActivityMovesToItsOwnTableAndLeavesWithItsRegistration() async throws {
        let path = try await databaseMigrated(upTo: "2026-12-02 pending pushes") { db in
            for (node, pushed, failure) in [("pushed", 1_790_000_000.0, nil), ("failed", nil, "BadDeviceToken"), ("quiet", nil, nil)] as [(String, Double?, String?)] {
                try db.execute(
                    sql: """
                        INSERT INTO registration (node, secret, app, service, dialect, token, account_domain, account_key,
                            device_key, created_at, updated_at, last_push_at, last_failure)
                            VALUES (?, 's', 'chat', 'fcm', 'p2', 't', 'example.org', 'a', ?, 1, 1, ?, ?)
                        """,
                    arguments: [node, "device-" + node, pushed, failure]
                )
            }
        }
        let store = try SQLiteRegistrationStore(path: path)
        #expect(try await store.registration(node: "pushed")?.lastPushAt == Date(timeIntervalSince1970: 1_790_000_000))
        #expect(try await store.registration(node: "failed")?.lastFailure == "BadDeviceToken")
        let quiet = try #require(try await store.registration(node: "quiet"))
        #expect(quiet.lastPushAt == nil && quiet.lastFailure == nil)
        #expect(try await store.activityRowCount() == 2, "rows only for registrations with activity")
        #expect(try await store.registration(deviceKey: "device-pushed")?.lastPushAt == Date(timeIntervalSince1970: 1_790_000_000))
        #expect(try await store.list(after: nil, limit: 10).compactMap(\.lastFailure) == ["BadDeviceToken"])
        #expect(try await store.delete(node: "pushed"))
        #expect(try await store.delete(node: "failed", ifToken: "t"))
        #expect(try await store.activityRowCount() == 0, "a deleted registration takes its activity along")
        #expect(try await store.count() == 1)
    }

    @Test func sqliteCountsSurviveUpdatesThatMoveADomainAndBulkLoads() async throws {
        let store = try SQLiteRegistrationStore(path: temporaryDatabasePath())
        try await store.save(sample("x"))
        var moved = sample("x")
        moved.accountDomain = "other.example"
        try await store.save(moved)
        #expect(try await store.count(accountDomain: "example.org") == 0)
        #expect(try await store.count(accountDomain: "other.example") == 1)
        try await store.saveAll([sample("y"), sample("x")])
        #expect(try await store.count() == 2)
        #expect(try await store.count(accountDomain: "example.org") == 2)
    }

    @Test func sqliteFilesAreForHeraldsUserOnlyAndCommitsAreDurable() async throws {
        let path = temporaryDatabasePath()
        let folder = (path as NSString).deletingLastPathComponent
        let store = try SQLiteRegistrationStore(path: path)
        try await store.save(sample("private"))
        func mode(_ file: String) throws -> Int {
            try #require(FileManager.default.attributesOfItem(atPath: file)[.posixPermissions] as? Int)
        }
        #expect(try mode(folder) == 0o700)
        for file in [path, path + "-wal", path + "-shm"] {
            #expect(try mode(file) == 0o600, "\(file)")
        }
        #expect(try store.synchronousSetting == 2, "synchronous = FULL")
    }

    @Test func sqliteKeepsRegistrationsAcrossReopening() async throws {
        let path = temporaryDatabasePath()
        do {
            let store = try SQLiteRegistrationStore(path: path)
            try await store.save(sample("kept"))
        }
        let reopened = try SQLiteRegistrationStore(path: path)
        #expect(try await reopened.registration(node: "kept") == sample("kept"))
    }

    @Test func sqliteRefusesTwoNodesForOneDevice() async throws {
        let store = try SQLiteRegistrationStore(path: temporaryDatabasePath())
        try await store.save(sample("first", device: "same-device"))
        let refused = await #expect(throws: DatabaseError.self) { try await store.save(sample("second", device: "same-device")) }
        #expect(refused?.resultCode == .SQLITE_CONSTRAINT)
    }

    @Test func sqliteLooksUpByNodeThroughTheIndex() async throws {
        let store = try SQLiteRegistrationStore(path: temporaryDatabasePath())
        // The reads as the store makes them: by index into the registrations, then the activity by rowid.
        let plan = try await store.queryPlan(sql: SQLiteRegistrationStore.selection + " WHERE node = 'x'")
        #expect(plan.contains("registration USING INDEX"), "plan: \(plan)")
        #expect(plan.contains("registration_activity USING INTEGER PRIMARY KEY"), "plan: \(plan)")
        let byDevice = try await store.queryPlan(sql: SQLiteRegistrationStore.selection + " WHERE device_key = 'x'")
        #expect(byDevice.contains("registration USING INDEX"), "plan: \(byDevice)")
        #expect(byDevice.contains("registration_activity USING INTEGER PRIMARY KEY"), "plan: \(byDevice)")
    }

    /// A database file as an earlier Herald left it: migrated up to `migration`, with `rows` written.
    private func databaseMigrated(upTo migration: String, rows: @escaping @Sendable (Database) throws -> Void) async throws -> String {
        let path = temporaryDatabasePath()
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        let queue = try DatabaseQueue(path: path)
        try SQLiteRegistrationStore.migrator.migrate(queue, upTo: migration)
        try await queue.write(rows)
        try queue.close()
        return path
    }

    @Test func aStoreKeyedByNodeMovesToRowidsKeepingRowsAndCounts() async throws {
        let path = try await databaseMigrated(upTo: "2026-12-02 registration counts") { db in
            for (node, created) in [("zz", 3.0), ("aa", 2.0), ("mm", 1.0)] {
                try db.execute(
                    sql: """
                        INSERT INTO registration (node, secret, app, service, dialect, token, account_domain, account_key,
                            device_key, created_at, updated_at) VALUES (?, 's', 'chat', 'fcm', 'p2', 't', 'example.org', 'a', ?, ?, ?)
                        """,
                    arguments: [node, "device-" + node, created, created]
                )
            }
        }
        let store = try SQLiteRegistrationStore(path: path)
        #expect(try await store.list(after: nil, limit: 10).map(\.node) == ["aa", "mm", "zz"])
        #expect(try await store.count() == 3)
        #expect(try await store.count(accountDomain: "example.org") == 3)
        #expect(try await store.registration(deviceKey: "device-zz")?.node == "zz")
        let order = try await store.nodesInRowidOrder()
        #expect(order == ["mm", "aa", "zz"], "oldest first")
        // The counting triggers came back with the new table.
        try await store.save(sample("new"))
        #expect(try await store.count() == 4)
        #expect(try await store.delete(node: "aa"))
        #expect(try await store.count(accountDomain: "example.org") == 3)
        let refused = await #expect(throws: DatabaseError.self) { try await store.save(sample("other", device: "device-zz")) }
        #expect(refused?.resultCode == .SQLITE_CONSTRAINT)
    }
}
