import Foundation
import HeraldCore
import HeraldTesting
import Testing

@testable import HeraldSQLite

/// The delivery cache in front of the SQLite store: on while its watcher runs, invalidated by the
/// store's own writes at once, and emptied when another process writes to the file.
@Suite(.timeLimit(.minutes(1))) struct SQLiteRegistrationStoreTests {
    private func found(_ lookup: ImmediateLookup) -> Registration? {
        if case .found(let registration) = lookup { return registration }
        return nil
    }

    @Test func theCacheIsOffUntilItsWatcherRuns() async throws {
        let store = try SQLiteRegistrationStore(path: temporaryDatabasePath())
        try await store.save(sample("n1"))
        #expect(found(store.registrationForDeliveryNow(node: "n1"))?.node == "n1")
        #expect(store.cachedRegistrations == 0)
        #expect(!store.cacheIsOn)
    }

    @Test func theStoresOwnWritesReachDeliveryAtOnce() async throws {
        let store = try SQLiteRegistrationStore(path: temporaryDatabasePath())
        var registration = sample("n1")
        try await store.save(registration)
        try await whileRunning({ await store.keepCacheCoherent(interval: .seconds(60)) }) {
            #expect(await eventually { store.cacheIsOn })
            #expect(found(store.registrationForDeliveryNow(node: "n1"))?.token == "token-n1")
            #expect(store.cachedRegistrations == 1)
            registration.token = "rotated"
            try await store.save(registration)
            #expect(found(store.registrationForDeliveryNow(node: "n1"))?.token == "rotated", "a save invalidates")
            #expect(try await store.delete(node: "n1", ifToken: "rotated"))
            #expect(store.registrationForDeliveryNow(node: "n1") == .absent, "a delete invalidates")
            #expect(try await store.registrationForDelivery(node: "n1") == nil)
            // A miss is never cached: the node registered again is found.
            try await store.insert(sample("n1"), limits: RegistrationLimits(perAccount: 10, perDomain: 10, total: 10))
            #expect(found(store.registrationForDeliveryNow(node: "n1"))?.token == "token-n1")
        }
    }

    /// `herald registrations delete` while Herald runs: another connection, another process's writer.
    @Test func anotherProcessesWriteEmptiesTheCacheWithinTheInterval() async throws {
        let path = temporaryDatabasePath()
        let store = try SQLiteRegistrationStore(path: path)
        try await store.saveAll((0..<10).map { sample("n\($0)", device: "d\($0)") })
        try await whileRunning({ await store.keepCacheCoherent(interval: .milliseconds(50)) }) {
            #expect(await eventually { store.cacheIsOn })
            for index in 0..<10 { _ = store.registrationForDeliveryNow(node: "n\(index)") }
            #expect(store.cachedRegistrations == 10)
            // The cache still holds n3 as it was, for now: this is what the watcher is for.
            let other = try SQLiteRegistrationStore(path: path)
            #expect(try await other.delete(node: "n3"))
            #expect(await eventually(timeout: .seconds(5)) { store.registrationForDeliveryNow(node: "n3") == .absent })
            #expect(store.cachedRegistrations <= 1, "emptied, then refilled only by the lookup above")
            // The store's own writes do not count as another's: the cache is not emptied by them.
            for index in [0, 1, 2] { _ = store.registrationForDeliveryNow(node: "n\(index)") }
            let before = store.cachedRegistrations
            try await store.save(sample("n9", device: "d9"))
            try await Task.sleep(for: .milliseconds(200))
            #expect(store.cachedRegistrations >= before - 1)
        }
    }

    @Test func theCacheHoldsNoMoreThanItsCapacity() async throws {
        let store = try SQLiteRegistrationStore(path: temporaryDatabasePath(), cacheCapacity: 10)
        try await store.saveAll((0..<100).map { sample("n\($0)", device: "d\($0)") })
        try await whileRunning({ await store.keepCacheCoherent(interval: .seconds(60)) }) {
            #expect(await eventually { store.cacheIsOn })
            for index in 0..<100 { #expect(found(store.registrationForDeliveryNow(node: "n\(index)"))?.node == "n\(index)") }
            #expect(store.cachedRegistrations == 10)
        }
    }

    /// A second's activity is written in several transactions of the bookkeeping thread, through the
    /// writer's own connection: every row lands, the cache follows, and it is not emptied as if another
    /// process had written (which a connection of its own would look like, every second).
    @Test func activityOverSeveralTransactionsReachesTheStoreAndTheCacheWithoutEmptyingIt() async throws {
        let store = try SQLiteRegistrationStore(path: temporaryDatabasePath(), cacheCapacity: 10_000)
        let count = 4 * SQLiteRegistrationStore.activityTransactionRows + 10
        let nodes = (0..<count).map { "n\($0)" }
        try await store.saveAll(nodes.map { sample($0, device: "d-\($0)") })
        let pushed = Date(timeIntervalSince1970: 1_800_000_000)
        try await whileRunning({ await store.keepCacheCoherent(interval: .milliseconds(20)) }) {
            #expect(await eventually { store.cacheIsOn })
            for node in nodes { _ = store.registrationForDeliveryNow(node: node) }
            #expect(store.cachedRegistrations == count)
            // Registrations written while the activity is: neither waits for the other to fail.
            async let saved: Void = store.saveAll((0..<50).map { sample("new\($0)", device: "new-d\($0)") })
            try await store.recordActivity(Dictionary(uniqueKeysWithValues: nodes.map { ($0, RegistrationActivity(lastPushAt: pushed)) }))
            try await saved
            // Several turns of the watcher: the store's own transactions are not another process's.
            try await Task.sleep(for: .milliseconds(200))
            #expect(store.cachedRegistrations == count, "the cache was not emptied")
            for node in nodes {
                #expect(found(store.registrationForDeliveryNow(node: node))?.lastPushAt == pushed)
            }
        }
        for node in nodes {
            #expect(try await store.registration(node: node)?.lastPushAt == pushed)
        }
        #expect(try await store.registration(node: "new49") != nil)
    }
}
