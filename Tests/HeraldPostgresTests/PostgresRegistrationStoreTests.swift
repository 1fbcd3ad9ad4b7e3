import Foundation
import HeraldCore
import HeraldHarness
import HeraldPostgres
import HeraldTesting
import Logging
import PostgresNIO
import Testing

/// What the PostgreSQL store adds to the contract every store keeps (RegistrationStoreContractTests):
/// a cache for delivery that stays coherent with other instances' writes through notifications.
@Suite(.enabled(if: PostgresServer.isInstalled, "PostgreSQL is not installed (scripts/install-dependencies.sh)"))
struct PostgresRegistrationStoreTests {
    /// Two instances' stores on one database, each with its own pool.
    func twoStores() async throws -> (PostgresRegistrationStore, PostgresRegistrationStore, PostgresServer, String) {
        let server = try await PostgresServer.shared()
        let database = try await server.makeDatabase()
        func store() throws -> PostgresRegistrationStore {
            var quiet = Logger(label: "test.postgres")
            quiet.logLevel = .critical
            var settings = try PostgresSettings(url: server.url(database: database))
            settings.maximumConnections = 4
            let client = PostgresClient(configuration: try settings.clientConfiguration(), backgroundLogger: quiet)
            Task { await client.run() }
            return PostgresRegistrationStore(client: client, logger: quiet)
        }
        return (try store(), try store(), server, database)
    }

    func registration(_ node: String, token: String, secret: String = "secret") -> Registration {
        Registration(
            node: node, secret: secret, app: "chat", service: .apns, dialect: .p2, token: token, environment: .production,
            accountDomain: "example.org", accountKey: "account-\(node)", deviceKey: "device-\(node)", createdAt: Date(timeIntervalSince1970: 1_790_000_000)
        )
    }

    func deliveredToken(_ store: PostgresRegistrationStore, _ node: String) async throws -> String? {
        try await store.registrationForDelivery(node: node)?.token
    }

    @Test func anotherInstancesChangesReachTheCacheAndActivityDoesNot() async throws {
        let (cached, other, _, _) = try await twoStores()
        let listener = Task { await cached.keepCacheCoherent(retryDelay: .milliseconds(100)) }
        defer { listener.cancel() }
        #expect(await eventually { cached.cacheIsOn })

        try await other.save(registration("n1", token: "first"))
        #expect(try await deliveredToken(cached, "n1") == "first")
        #expect(try await deliveredToken(cached, "n2") == nil)
        try await other.save(registration("n2", token: "late"))
        #expect(try await deliveredToken(cached, "n2") == "late", "a miss is never kept")

        try await other.save(registration("n1", token: "second"))
        #expect(await eventually { (try? await deliveredToken(cached, "n1")) == "second" }, "a re-registration elsewhere reaches the cache")
        #expect(try await other.delete(node: "n1"))
        #expect(await eventually { (try? await cached.registrationForDelivery(node: "n1")) == nil }, "so does a removal")

        // Activity changes with every push and does not invalidate: the cached copy keeps its old time.
        _ = try await cached.registrationForDelivery(node: "n2")
        try await other.recordActivity(["n2": RegistrationActivity(lastPushAt: Date(timeIntervalSince1970: 1_790_000_500), lastFailure: nil)])
        try await Task.sleep(for: .milliseconds(300))
        #expect(try await cached.registrationForDelivery(node: "n2")?.lastPushAt == nil)
        #expect(try await cached.registration(node: "n2")?.lastPushAt == Date(timeIntervalSince1970: 1_790_000_500), "the store itself has it")

        // Its own writes are seen at once, without waiting for the notification.
        try await cached.save(registration("n2", token: "own"))
        #expect(try await deliveredToken(cached, "n2") == "own")
    }

    @Test func aLostListenerTurnsTheCacheOffUntilItHearsAgain() async throws {
        let (cached, other, server, database) = try await twoStores()
        let listener = Task { await cached.keepCacheCoherent(retryDelay: .milliseconds(500)) }
        defer { listener.cancel() }
        #expect(await eventually { cached.cacheIsOn })
        try await other.save(registration("n1", token: "first"))
        #expect(try await deliveredToken(cached, "n1") == "first")

        _ = try await server.psql(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '\(database)' AND query LIKE 'LISTEN%'",
            database: "postgres"
        )
        #expect(await eventually { !cached.cacheIsOn }, "the listener's connection is gone")
        try await other.save(registration("n1", token: "while-deaf"))
        #expect(try await deliveredToken(cached, "n1") == "while-deaf", "off, every delivery reads the store")
        #expect(await eventually { cached.cacheIsOn }, "the listener comes back")
        #expect(try await deliveredToken(cached, "n1") == "while-deaf", "and the cache it comes back to is empty")
    }
}
