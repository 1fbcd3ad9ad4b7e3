import Foundation
import GRDB
import HeraldCore
import HeraldTesting
import Testing

@testable import HeraldSQLite

private func sample(_ node: String, account: String = "acct-1", device: String? = nil) -> Registration {
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
    case memory, sqlite
    var testDescription: String { rawValue }

    func make() throws -> any RegistrationStore {
        switch self {
        case .memory: InMemoryRegistrationStore()
        case .sqlite: try SQLiteRegistrationStore(path: temporaryDatabasePath())
        }
    }
}

func temporaryDatabasePath() -> String {
    FileManager.default.temporaryDirectory.appendingPathComponent("herald-\(UUID().uuidString)/herald.sqlite").path
}

/// Every store behaves the same; the SQLite one also keeps what it was given across reopening.
@Suite struct RegistrationStoreContractTests {
    @Test(arguments: StoreKind.allCases)
    func savesAndFindsByNodeAndDeviceKeyWithEveryField(kind: StoreKind) async throws {
        let store = try kind.make()
        let registration = sample("n1")
        try await store.save(registration)
        #expect(try await store.registration(node: "n1") == registration)
        #expect(try await store.registration(deviceKey: "device-n1") == registration)
        #expect(try await store.registration(node: "missing") == nil)
    }

    @Test(arguments: StoreKind.allCases)
    func savingTheSameNodeReplacesIt(kind: StoreKind) async throws {
        let store = try kind.make()
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
        let store = try kind.make()
        try await store.save(sample("n1"))
        #expect(try await store.delete(node: "n1"))
        #expect(try await !store.delete(node: "n1"))
        #expect(try await store.registration(node: "n1") == nil)
    }

    @Test(arguments: StoreKind.allCases)
    func countsPerAccountAndInAll(kind: StoreKind) async throws {
        let store = try kind.make()
        try await store.save(sample("a", account: "one"))
        try await store.save(sample("b", account: "one"))
        try await store.save(sample("c", account: "two"))
        #expect(try await store.count(accountKey: "one") == 2)
        #expect(try await store.count(accountKey: "three") == 0)
        #expect(try await store.count() == 3)
    }

    @Test(arguments: StoreKind.allCases)
    func listsInNodeOrderInPages(kind: StoreKind) async throws {
        let store = try kind.make()
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
        let store = try kind.make()
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
        let store = try kind.make()
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
        let store = try kind.make()
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
        try await store.savePending(pending("a", "first", in: 20))
        try await store.savePending(pending("b", "other", in: 10))
        try await store.savePending(pending("a", "newer", in: 30, attempt: 2))
        let queued = try await store.pendingPushes(limit: 10)
        #expect(queued == [pending("b", "other", in: 10), pending("a", "newer", in: 30, attempt: 2)])
        #expect(queued.allSatisfy { $0.publish.secret == nil })
        #expect(try await store.pendingPushes(limit: 1).map(\.node) == ["b"])
        try await store.deletePending(node: "b")
        #expect(try await store.delete(node: "a"))
        #expect(try await store.pendingPushes(limit: 10).isEmpty, "removing a registration removes its pending push")
    }

    @Test(arguments: StoreKind.allCases)
    func activityKeepsTheLastPushTimeUntilANewerOneAndSkipsUnknownNodes(kind: StoreKind) async throws {
        let store = try kind.make()
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
        let plan = try await store.queryPlan(sql: "SELECT * FROM registration WHERE node = 'x'")
        #expect(plan.contains("USING INDEX"), "plan: \(plan)")
        let byDevice = try await store.queryPlan(sql: "SELECT * FROM registration WHERE device_key = 'x'")
        #expect(byDevice.contains("USING INDEX"), "plan: \(byDevice)")
    }

    @Test func aStoreKeyedByNodeMovesToRowidsKeepingRowsAndCounts() async throws {
        let path = temporaryDatabasePath()
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        do {
            let queue = try DatabaseQueue(path: path)
            try SQLiteRegistrationStore.migrator.migrate(queue, upTo: "2026-12-02 registration counts")
            try await queue.write { db in
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
