import Foundation
import HeraldCore
import Testing

@testable import HeraldSQLite

@Suite struct SQLiteNodeReaderTests {
    /// The reader decodes a row as GRDB does: every field, empty ones as nil.
    @Test func readsWhatTheStoreWroteFieldForField() async throws {
        let path = temporaryDatabasePath()
        let store = try SQLiteRegistrationStore(path: path)
        let full = sample("full")
        var sparse = Registration(node: "sparse", secret: nil, app: "chat", service: .webpush, dialect: .http, token: "t", deviceKey: "d", createdAt: Date(timeIntervalSince1970: 5))
        sparse.webPushKeys = nil
        try await store.save(full)
        try await store.save(sparse)
        let reader = SQLiteNodeReader(path: path)
        #expect(try reader.registration(node: "full") == full)
        #expect(try reader.registration(node: "sparse") == sparse)
        #expect(try reader.registration(node: "missing") == nil)
        // GRDB's own read of the same rows.
        #expect(try await store.registration(deviceKey: "device-full") == full)
    }

    @Test func seesEveryCommittedWriteAtOnce() async throws {
        let path = temporaryDatabasePath()
        let store = try SQLiteRegistrationStore(path: path)
        let reader = SQLiteNodeReader(path: path)
        var registration = sample("n1")
        try await store.save(registration)
        #expect(try reader.registration(node: "n1")?.token == "token-n1")
        registration.token = "rotated"
        try await store.save(registration)
        #expect(try reader.registration(node: "n1")?.token == "rotated")
        #expect(try await store.delete(node: "n1"))
        #expect(try reader.registration(node: "n1") == nil)
    }

    /// Eight threads reading at once, each with a connection of its own from the pool.
    @Test func threadsReadAtOnceEachWithItsOwnConnection() async throws {
        let path = temporaryDatabasePath()
        let store = try SQLiteRegistrationStore(path: path)
        try await store.saveAll((0..<200).map { sample("n\($0)", device: "d\($0)") })
        let reader = SQLiteNodeReader(path: path)
        let mismatches = await withTaskGroup(of: Int.self) { group in
            for worker in 0..<8 {
                group.addTask {
                    var mismatches = 0
                    for index in 0..<500 {
                        let node = "n\((index * 7 + worker) % 200)"
                        if (try? reader.registration(node: node))??.node != node { mismatches += 1 }
                    }
                    return mismatches
                }
            }
            return await group.reduce(0, +)
        }
        #expect(mismatches == 0)
    }

    @Test func aMissingDatabaseIsAnErrorNotAnEmptyAnswer() {
        let reader = SQLiteNodeReader(path: "/nonexistent/herald.sqlite")
        #expect(throws: SQLiteNodeReader.ReadError.self) { try reader.registration(node: "n1") }
    }
}
